"""Live analytics: per-stream numbers, global stats, trending; all from real state."""
