"""Streams and their scheduled -> live -> ended lifecycle."""
