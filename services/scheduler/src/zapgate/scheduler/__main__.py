"""``zapgate-scheduler`` / ``python -m zapgate.scheduler``."""

from __future__ import annotations

from zapgate.common.service import run
from zapgate.scheduler.app import create_app
from zapgate.scheduler.settings import Settings


def main() -> None:
    """Run the scheduler until SIGTERM."""
    run(lambda: create_app(Settings()))


if __name__ == "__main__":
    main()
