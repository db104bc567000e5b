"""``zapgate-scheduler [run|migrate]`` / ``python -m zapgate.scheduler``."""

from __future__ import annotations

import argparse

from zapgate.common.logs import setup_logging
from zapgate.common.service import run
from zapgate.scheduler.app import create_app
from zapgate.scheduler.db import migrate
from zapgate.scheduler.settings import Settings


def main(argv: list[str] | None = None) -> None:
    """Run the scheduler until SIGTERM (default), or its migrations."""
    parser = argparse.ArgumentParser(prog="zapgate-scheduler")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate"])
    args = parser.parse_args(argv)
    if args.command == "migrate":
        settings = Settings()
        setup_logging("scheduler", settings.log_level, settings.log_format)
        migrate(settings.database_url)
        return
    run(lambda: create_app(Settings()))


if __name__ == "__main__":
    main()
