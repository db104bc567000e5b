"""OpenTelemetry traces, off unless the standard ``OTEL_*`` variables say where to send them.

A trace crosses processes in the W3C ``traceparent`` header of NATS messages: the gateway puts
it on the command, the worker continues it and puts it on the events it emits for that
command, the gateway's projector and WebSockets continue it from there. While tracing is off
none of this runs (``active()`` is False): the hot path pays one boolean test.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind

__all__ = [
    "SpanKind",
    "active",
    "context_of",
    "extract",
    "headers_for",
    "remembered",
    "sampled",
    "setup_tracing",
    "tracer",
]

_active = False
tracer = trace.get_tracer("zapgate")


def wanted_by_environment() -> bool:
    """Whether the ``OTEL_*`` variables ask for traces (an OTLP endpoint or an exporter)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or (exporter and exporter != "none")
    )


def setup_tracing(service: str, exporter: SpanExporter | None = None) -> bool:
    """Export this process's spans over OTLP/HTTP (configured by ``OTEL_*``), or to ``exporter``
    (tests); nothing when neither asks. Whether tracing is on."""
    global _active
    if exporter is None and not wanted_by_environment():
        return False
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"zapgate-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _active = True
    return True


def active() -> bool:
    """Whether spans are recorded and propagated."""
    return _active


def headers_for(headers: dict[str, str], context: Context | None = None) -> dict[str, str]:
    """``headers`` with the ``traceparent`` of the current span (or of ``context``) added."""
    if _active:
        propagate.inject(headers, context=context)
    return headers


def extract(headers: Mapping[str, str] | None) -> Context | None:
    """The trace context a message carries, or None: tracing off, none in it, or one not sampled
    (the ``traceparent`` flags' lowest bit clear), which nothing downstream records, so it costs
    nothing. (Other bits may be set: 0x02 says the trace id is random.)"""
    if not _active or not headers:
        return None
    parent = headers.get("traceparent")
    if parent is None or not _sampled_flag(parent):
        return None
    return propagate.extract(dict(headers))


def _sampled_flag(traceparent: str) -> bool:
    try:
        return bool(int(traceparent.strip()[-2:], 16) & 0x01)
    except ValueError:
        return False


def sampled() -> bool:
    """Whether the current span is recorded (an unsampled request is not traced further)."""
    return _active and trace.get_current_span().get_span_context().trace_flags.sampled


def context_of(span_context: SpanContext) -> Context:
    """A context whose parent is ``span_context`` (a span that ended, kept by its id)."""
    return trace.set_span_in_context(NonRecordingSpan(span_context))


class remembered:  # noqa: N801 - used like a function-level cache
    """The span of each recent message, by its id, so its later status events join its trace."""

    limit = 100_000
    _spans: OrderedDict[str, SpanContext] = OrderedDict()

    @classmethod
    def keep(cls, message_id: str, span_context: SpanContext) -> None:
        """Remember a message's span (the oldest are forgotten past ``limit``)."""
        cls._spans[message_id] = span_context
        while len(cls._spans) > cls.limit:
            cls._spans.popitem(last=False)

    @classmethod
    def context(cls, message_id: str) -> Context | None:
        """The context to continue a message's trace in, if it is remembered."""
        found = cls._spans.get(message_id)
        return context_of(found) if found is not None else None
