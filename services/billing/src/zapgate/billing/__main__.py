"""``zapgate-billing [run|migrate]`` / ``python -m zapgate.billing``."""

from __future__ import annotations

import argparse

from zapgate.billing.app import create_app
from zapgate.billing.db import migrate
from zapgate.billing.settings import Settings
from zapgate.common.logs import setup_logging
from zapgate.common.service import run


def main(argv: list[str] | None = None) -> None:
    """Run billing until SIGTERM (default), or its migrations."""
    parser = argparse.ArgumentParser(prog="zapgate-billing")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate"])
    args = parser.parse_args(argv)
    if args.command == "migrate":
        settings = Settings()
        setup_logging("billing", settings.log_level, settings.log_format)
        migrate(settings.database_url)
        return
    run(lambda: create_app(Settings()))


if __name__ == "__main__":
    main()
