"""OpenTelemetry, without a tracer of our own.

- :func:`configure_otel_exporter` points an OpenTelemetry SDK's OTLP/HTTP
  exporter at PromptLedger's ``/v1/traces`` with the API key, so the
  application's own spans land in the ledger.
- :func:`current_trace_headers` is what ``execute`` sends: the current
  context as W3C ``traceparent`` (and ``tracestate``), through OpenTelemetry's
  configured propagator, so an execution's span joins the caller's trace.
  Without ``opentelemetry-api`` installed, or outside any span, it is empty.

Install the extra for both: ``pip install 'prompt-ledger[otel]'``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["configure_otel_exporter", "current_trace_headers", "otel_available"]

_FORWARDED = ("traceparent", "tracestate")


_propagate: Any = None
_looked = False


def _propagator() -> Any:
    """``opentelemetry.propagate``, imported once; ``None`` when not installed."""
    global _propagate, _looked
    if not _looked:
        module: Any
        try:
            from opentelemetry import propagate as module
        except ImportError:
            module = None
        _propagate, _looked = module, True
    return _propagate


def otel_available() -> bool:
    return _propagator() is not None


def current_trace_headers() -> dict[str, str]:
    """``traceparent``/``tracestate`` for the current OpenTelemetry context; ``{}`` without one."""
    propagate = _propagator()
    if propagate is None:
        return {}
    carrier: dict[str, str] = {}
    try:
        propagate.inject(carrier)
    except Exception:  # a broken propagator never fails the call it decorates
        return {}
    return {k: v for k, v in carrier.items() if k.lower() in _FORWARDED}


def configure_otel_exporter(
    api_url: str | None = None,
    api_key: str | None = None,
    *,
    service_name: str | None = None,
    tracer_provider: TracerProvider | None = None,
    set_global: bool = True,
    batch: bool = True,
    timeout: float = 10.0,
) -> TracerProvider:
    """Sends OpenTelemetry spans to PromptLedger over OTLP/HTTP.

    Adds a span processor with an ``OTLPSpanExporter`` for ``{api_url}/v1/traces``
    (``X-API-Key`` header) to ``tracer_provider``, or to a new ``TracerProvider``
    with ``service.name`` = ``service_name``, which becomes the global provider
    when ``set_global`` and none was set before. ``api_url`` and ``api_key``
    default to ``PROMPT_LEDGER_URL`` and ``PROMPT_LEDGER_API_KEY``. ``batch=False``
    exports each span as it ends (tests, short scripts). Returns the provider;
    call its ``force_flush()`` or ``shutdown()`` before the process exits.
    """
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as e:
        raise ImportError(
            "configure_otel_exporter needs the OpenTelemetry SDK: pip install 'prompt-ledger[otel]'"
        ) from e

    url = (api_url or os.environ.get("PROMPT_LEDGER_URL") or "").rstrip("/")
    key = api_key or os.environ.get("PROMPT_LEDGER_API_KEY")
    if not url or not key:
        raise ValueError("configure_otel_exporter needs api_url and api_key (or PROMPT_LEDGER_URL/_API_KEY)")
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"X-API-Key": key}, timeout=timeout)
    provider: Any = tracer_provider
    if provider is None:
        attributes = {"service.name": service_name} if service_name else {}
        provider = TracerProvider(resource=Resource.create(attributes))
        if set_global:
            trace.set_tracer_provider(provider)
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    result: TracerProvider = provider
    return result
