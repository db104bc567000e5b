"""zapgate benchmarks: `make bench` (python -m bench [names...])."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any


def run(benches: dict[str, Callable[[], Awaitable[dict[str, Any]]]], names: list[str]) -> dict[str, Any]:
    """Run the named benchmarks (all when none), printing each one's figures as it ends."""
    results = {}
    for name in names or list(benches):
        print(f"running {name} ...", flush=True)
        results[name] = asyncio.run(benches[name]())  # type: ignore[arg-type]
        print(json.dumps(results[name]), flush=True)
    return results
