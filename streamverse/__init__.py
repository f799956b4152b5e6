"""StreamVerse: a live content platform, and a course on streaming with FastAPI."""

from .app import create_app
from .config import Settings

__all__ = ["Settings", "create_app"]
__version__ = "0.1.0"
