"""Run the benchmarks and write their figures into docs/benchmarks.md."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import engines, messages, scheduling, sessions, webhooks

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:results -->", "<!-- /bench:results -->"


def render(results: dict[str, dict[str, object]]) -> str:
    """The figures as a markdown block."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [BEGIN, f"Last run: {when}, Python {platform.python_version()}, `make bench`.", ""]
    for name, figures in results.items():
        lines.append(f"- `{name}`: `{json.dumps(figures)}`")
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    """``python -m bench [first_qr failover rebalance scale accept e2e roundtrip engine_capacity schedule_burst campaign_rate jetstream_schedules billing webhook_rate webhook_latency]`` (all when none are named)."""
    names = sys.argv[1:]
    unknown = (
        set(names)
        - set(sessions.BENCHES)
        - set(messages.BENCHES)
        - set(engines.BENCHES)
        - set(scheduling.BENCHES)
        - set(webhooks.BENCHES)
    )
    if unknown:
        raise SystemExit(f"unknown benchmarks: {sorted(unknown)}")
    results = {}
    for module in (sessions, messages, engines, scheduling, webhooks):
        chosen = [n for n in names if n in module.BENCHES] if names else list(module.BENCHES)
        if chosen:
            results.update(module.main(chosen))
    text = DOC.read_text()
    block = render(results)
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## Raw figures of the last run\n\n" + block + "\n"
    DOC.write_text(text)
    print(f"figures written to {DOC}")


if __name__ == "__main__":
    main()
