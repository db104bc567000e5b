"""``zapgate-billing`` / ``python -m zapgate.billing``."""

from __future__ import annotations

from zapgate.billing.app import create_app
from zapgate.billing.settings import Settings
from zapgate.common.service import run


def main() -> None:
    """Run the billing until SIGTERM."""
    run(lambda: create_app(Settings()))


if __name__ == "__main__":
    main()
