"""One send is one trace across processes: the stack exports over OTLP/HTTP (the standard
``OTEL_*`` variables) to a receiver in the test, which decodes what each service sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import System, free_port, start_system, wait_until
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from test_faults import FAST, connected_unpaced

pytestmark = pytest.mark.e2e


class Receiver:
    """An OTLP/HTTP trace endpoint keeping every span it is sent, with its service's name."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    service = next(
                        (
                            a.value.string_value
                            for a in resource.resource.attributes
                            if a.key == "service.name"
                        ),
                        "",
                    )
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            receiver.spans.append({
                                "service": service, "name": span.name, "trace": span.trace_id.hex(),
                                "id": span.span_id.hex(), "parent": span.parent_span_id.hex(),
                            })  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[System, Receiver]]:
    receiver = Receiver()
    system = start_system(
        tmp_path / ".zapgate",
        {
            **FAST,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
    )
    yield system, receiver
    system.stop()
    receiver.server.shutdown()


def test_one_send_is_one_connected_trace_across_the_gateway_and_the_worker(traced) -> None:
    system, receiver = traced
    http = connected_unpaced(system, "traced", "5511911119101")
    sent = http.post(
        "/api/v1/sessions/main/messages", json={"type": "text", "to": "5511987659101", "text": "t"}
    )
    assert sent.status_code == 202

    def trace_of_send() -> list[dict[str, Any]]:
        roots = [s for s in receiver.spans if s["name"] == "publish send"]
        if not roots:
            return []
        return [s for s in receiver.spans if s["trace"] == roots[-1]["trace"]]

    def complete(spans: list[dict[str, Any]]) -> bool:
        names = [s["name"] for s in spans]
        ids = {s["id"] for s in spans}
        return (
            {"accept send", "publish message.status", "project message.status"} <= set(names)
            # every status published (sent, delivered, read) was projected, all spans are in
            and names.count("publish message.status") == names.count("project message.status") >= 3
            and sum(1 for s in spans if s["parent"] not in ids) == 1
        )

    try:
        wait_until(lambda: complete(trace_of_send()), 30, "the send's spans from every process")
    except AssertionError:
        raise AssertionError(f"spans: {[(s['service'], s['name']) for s in receiver.spans]}") from None
    spans = trace_of_send()
    assert {s["service"] for s in spans} == {"zapgate-gateway", "zapgate-session-worker"}
    # Connected: every span but the HTTP request's root has its parent in the same trace.
    ids = {s["id"] for s in spans}
    roots = [s for s in spans if s["parent"] not in ids]
    assert len(roots) == 1 and roots[0]["service"] == "zapgate-gateway", roots
    assert roots[0]["name"].startswith("POST /api/v1/sessions/")
    by_id = {s["id"]: s for s in spans}
    accept = next(s for s in spans if s["name"] == "accept send")
    assert by_id[accept["parent"]]["name"] == "publish send"  # the worker continues the command
    statuses = [s for s in spans if s["name"] == "publish message.status"]
    assert all(by_id[s["parent"]]["name"] == "accept send" for s in statuses)
