"""Persistence: the engine and sessions (``store``), the declarative base (``base``).
Each domain declares its own tables in its ``models.py``."""
