"""``zapgate-session-worker [run|migrate]`` / ``python -m zapgate.session_worker``."""

from __future__ import annotations

import argparse

from zapgate.common.logs import setup_logging
from zapgate.common.service import run
from zapgate.session_worker.app import create_app
from zapgate.session_worker.db import migrate
from zapgate.session_worker.settings import Settings


def main(argv: list[str] | None = None) -> None:
    """Run the worker until SIGTERM (default), or run its migrations."""
    parser = argparse.ArgumentParser(prog="zapgate-session-worker")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate"])
    args = parser.parse_args(argv)
    if args.command == "migrate":
        settings = Settings()
        setup_logging("session-worker", settings.log_level)
        migrate(settings.database_url)
        return
    run(lambda: create_app(Settings()))


if __name__ == "__main__":
    main()
