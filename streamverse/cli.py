"""Command line: ``streamverse serve`` runs the platform in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from . import gctune
from .app import create_app
from .config import Settings
from .server import Server, bind_socket, make_config


def serve(host: str, port: int, tune_gc: bool = True) -> int:
    settings = Settings()
    try:
        sock = bind_socket(host, port)
    except OSError as error:
        print(f"streamverse: {error.strerror}", file=sys.stderr)
        return 1
    config = make_config(create_app(settings), loop="asyncio", timeout_graceful_shutdown=5)
    if tune_gc:
        gctune.tune_for_serving()
    print(f"StreamVerse on http://{host}:{port}  (API docs: /docs, data: {settings.data_dir})")
    asyncio.run(Server(config).serve(sockets=[sock]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamverse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the platform")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's default garbage-collector settings (see streamverse/gctune.py)",
    )
    upload_parser = commands.add_parser("upload", help="upload a media file, with progress")
    upload_parser.add_argument("file", type=Path)
    upload_parser.add_argument("--title")
    upload_parser.add_argument("--description", default="")
    upload_parser.add_argument("--url", default="http://127.0.0.1:8000")
    upload_parser.add_argument("--token", default=os.environ.get("STREAMVERSE_TOKEN"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.host, args.port, tune_gc=not args.default_gc)
    if args.command == "upload":
        from .uploads import client

        return client.main(args.url, args.token, args.file, args.title, args.description)
    return 2


if __name__ == "__main__":
    sys.exit(main())
