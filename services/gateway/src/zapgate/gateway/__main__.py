"""``zapgate-gateway [serve|migrate]`` / ``python -m zapgate.gateway``."""

from __future__ import annotations

import argparse

import uvicorn

from zapgate.common.logs import setup_logging
from zapgate.gateway.app import create_app
from zapgate.gateway.db import migrate
from zapgate.gateway.settings import Settings


def main(argv: list[str] | None = None) -> None:
    """Serve the API (default) or run the gateway's migrations."""
    parser = argparse.ArgumentParser(prog="zapgate-gateway")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings = Settings()
    setup_logging("gateway", settings.log_level)
    if args.command == "migrate":
        migrate(settings.database_url)
        return
    config = uvicorn.Config(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
