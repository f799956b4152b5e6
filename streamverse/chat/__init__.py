"""Chat: a WebSocket room per stream, with history, presence, resume, rate limits and
moderation. The protocol is in docs/chat-protocol.md."""
