"""``zapgate-session-worker [run|migrate|rewrap]`` / ``python -m zapgate.session_worker``."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict

from zapgate.common.crypto import CredentialCipher
from zapgate.common.db import make_engine, make_sessionmaker
from zapgate.common.logs import setup_logging
from zapgate.common.service import run
from zapgate.session_worker.adapters.store import SessionStore
from zapgate.session_worker.app import create_app
from zapgate.session_worker.db import migrate
from zapgate.session_worker.rotation import Rewrapped, rewrap
from zapgate.session_worker.settings import Settings


def main(argv: list[str] | None = None) -> None:
    """Run the worker until SIGTERM (default), run its migrations, or re-encrypt credentials."""
    parser = argparse.ArgumentParser(prog="zapgate-session-worker")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate", "rewrap"])
    args = parser.parse_args(argv)
    if args.command == "migrate":
        settings = Settings()
        setup_logging("session-worker", settings.log_level, settings.log_format)
        migrate(settings.database_url)
        return
    if args.command == "rewrap":
        settings = Settings()
        setup_logging("session-worker", settings.log_level, settings.log_format)
        print(json.dumps(asdict(asyncio.run(_rewrap(settings)))))
        return
    run(lambda: create_app(Settings()))


async def _rewrap(settings: Settings) -> Rewrapped:
    if settings.secret_key is None:
        raise SystemExit("ZAPGATE_SECRET_KEY is required: it is the secret credentials are moved to")
    engine = make_engine(settings.database_url)
    try:
        cipher = CredentialCipher(settings.secret_key.get_secret_value(), settings.previous_secrets)
        return await rewrap(SessionStore(make_sessionmaker(engine)), cipher)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    main()
