"""``zapgate-gateway [serve|webhooks|migrate]`` / ``python -m zapgate.gateway``."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from zapgate.common.logs import setup_logging
from zapgate.common.runtime import settle_heap
from zapgate.common.tracing import setup_tracing
from zapgate.gateway.app import create_app
from zapgate.gateway.db import migrate
from zapgate.gateway.settings import Settings

SERVER_OPTIONS: dict[str, Any] = {
    # The C event loop and HTTP parser: uvicorn's pure-Python fallbacks (asyncio, h11) cost the
    # gateway about a third of its CPU per request.
    "loop": "uvloop",
    "http": "httptools",
    # Event frames are small JSON; compressing each one cost more CPU than it saved bytes.
    "ws_per_message_deflate": False,
    "log_config": None,
    "access_log": False,
    "lifespan": "on",
}
"""How the gateway is served (the accept benchmark serves its bare ceiling the same way)."""


def main(argv: list[str] | None = None) -> None:
    """Serve the API (default), deliver webhooks (the dispatcher role), or run the migrations."""
    parser = argparse.ArgumentParser(prog="zapgate-gateway")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "webhooks", "migrate"])
    args = parser.parse_args(argv)
    settings = Settings()
    setup_logging("gateway", settings.log_level, settings.log_format)
    setup_tracing("gateway")  # only when OTEL_* asks for it
    if args.command == "migrate":
        migrate(settings.database_url)
        return
    if args.command == "webhooks":
        from zapgate.common.service import run
        from zapgate.gateway.dispatcher import create_dispatcher

        run(lambda: create_dispatcher(settings))
        return
    config = uvicorn.Config(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        timeout_graceful_shutdown=10,
        **SERVER_OPTIONS,
    )
    settle_heap()  # the application is built and every module imported
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
