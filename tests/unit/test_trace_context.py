"""Which trace contexts are continued. In a child process: a tracer provider, once set, stays
for the life of the process, and the other tests run with tracing off."""

import subprocess
import sys

CHECK = """
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from zapgate.common import tracing

assert tracing.extract({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}) is None  # off
tracing.setup_tracing("unit", InMemorySpanExporter())
base = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-"
for flags, continued in (("01", True), ("03", True), ("00", False), ("02", False), ("zz", False)):
    assert (tracing.extract({"traceparent": base + flags}) is not None) is continued, flags
assert tracing.extract({}) is None
print("ok")
"""


def test_only_a_sampled_traceparent_is_continued_and_nothing_while_off() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
