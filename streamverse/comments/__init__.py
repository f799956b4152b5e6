"""Live comments: posted over HTTP, followed as an NDJSON stream."""
