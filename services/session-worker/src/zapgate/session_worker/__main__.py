"""``zapgate-session-worker`` / ``python -m zapgate.session_worker``."""

from __future__ import annotations

from zapgate.common.service import run
from zapgate.session_worker.app import create_app
from zapgate.session_worker.settings import Settings


def main() -> None:
    """Run the session-worker until SIGTERM."""
    run(lambda: create_app(Settings()))


if __name__ == "__main__":
    main()
