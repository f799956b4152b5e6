"""Chunked log processing: a log file counted line by line as it streams in, in constant
memory, with live progress over SSE."""
