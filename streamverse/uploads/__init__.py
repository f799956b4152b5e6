"""Uploads: multipart and tus (resumable) bodies streamed once to the data directory,
validated by content, followed live (SSE and WebSocket), handed to the videos domain."""
