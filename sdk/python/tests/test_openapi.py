"""The SDK against the repository's OpenAPI description: every public route
has an SDK method, and every path, query parameter and body field the SDK
sends is in the spec."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from prompt_ledger import _ops as ops

SPEC = Path(__file__).resolve().parents[3] / "openapi.json"
# Routes the SDK does not wrap: the spec itself, the health probe's HEAD, the
# original smoke-test route, the scheduler's internal beat, and the gateway's
# OpenAI- and Anthropic-compatible routes, which those vendors' own SDKs call.
NOT_IN_SDK = {
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/messages"),
    ("GET", "/openapi.json"),
    ("HEAD", "/health"),
    ("POST", "/api/v1/prompts/execute"),
    ("POST", "/v1/internal/beat"),
}
P = "\x00"  # a stand-in path value, replaced by {} afterwards


def sdk_ops() -> list[ops.Op[Any]]:
    """Every request the SDK can make, with every optional field given."""
    msgs = [{"role": "user", "content": "x"}]
    run = {
        "prompt_name": "n",
        "variables": {},
        "model": {"provider": "mock", "model_name": "m"},
        "params": {},
        "version": 1,
        "environment": "l",
        "template": "t",
        "messages": msgs,
        "mode": "sync",
        "correlation_id": "c",
        "timeout_ms": 1,
        "max_attempts": 1,
        "trace_id": "t",
        "parent_span_id": "s",
    }
    filters = ops.execution_filters(
        "p", 1, "queued", "mock", "m", "c", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
    )
    tfilters = ops.trace_filters("s", "ok", True, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
    return [
        ops.health(),
        ops.create_prompt(P, "t", msgs, "d", "o", "full", {}, "me"),
        ops.prompt_details(P),
        ops.list_prompts_page("c", 1, "p", "full", "o", True),
        ops.update_metadata(P, "d", "o"),
        ops.set_archived(P, True),
        ops.set_archived(P, False),
        ops.create_version(P, "t", msgs, {}, "active", "me", "m"),
        ops.list_versions_page(P, "c", 1),
        ops.get_version(P, P),  # type: ignore[arg-type]
        ops.activate(P, P),  # type: ignore[arg-type]
        ops.list_labels(P),
        ops.get_label(P, P),
        ops.set_label(P, P, 1),
        ops.delete_label(P, P),
        ops.render(P, {}, 1, "l"),
        ops.diff(P, 1, 2),
        ops.register([("a", "t", {})]),
        ops.run(run, "k", {}),
        ops.get_execution(P),
        ops.cancel_execution(P),
        ops.list_executions_page("c", 1, filters),
        ops.ingest("/v1/traces", {}, True),
        ops.ingest("/v1/spans", {}, True),
        ops.get_trace(P),
        ops.list_traces_page("c", 1, tfilters),
        ops.analytics_summary("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ops.prompt_analytics(P, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "day"),
        ops.list_models(),
        ops.get_model(P, P),
        ops.set_model_prices(P, P, 1, 1),
        ops.create_api_key("n", "read", 1, 1.0),
        ops.get_api_key(P),
        ops.set_api_key_limits(P, 1, 1.0),
        ops.list_api_keys(True),
        ops.revoke_api_key(P),
    ]


def template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip("no openapi.json at the repository root")
    loaded: dict[str, Any] = json.loads(SPEC.read_text())
    return loaded


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def properties(spec: dict[str, Any], schema: dict[str, Any]) -> set[str] | None:
    """The object's property names (through $ref, allOf, oneOf, anyOf); None when open-ended."""
    schema = resolve(spec, schema)
    names: set[str] = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            more = properties(spec, part)
            if more is None:
                return None
            names |= more
    if not names and (
        schema.get("additionalProperties") not in (None, False) or schema.get("type") != "object"
    ):
        return None
    return names


def spec_operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete", "head"):
                op = dict(op)
                op["_shared"] = item.get("parameters", [])
                out[(method.upper(), template(path))] = op
    return out


def test_every_route_has_an_sdk_method(spec: dict[str, Any]) -> None:
    sent = {(op.method, template(op.path.replace(ops.seg(P), "{}"))) for op in sdk_ops()}
    documented = set(spec_operations(spec)) - {(m, template(p)) for m, p in NOT_IN_SDK}
    assert documented - sent == set(), "routes without an SDK method"
    assert sent - documented == set(), "SDK requests the spec does not describe"


def test_query_parameters_and_body_fields_are_in_the_spec(spec: dict[str, Any]) -> None:
    operations = spec_operations(spec)
    for op in sdk_ops():
        key = (op.method, template(op.path.replace(ops.seg(P), "{}")))
        described = operations[key]
        params = [resolve(spec, p) for p in described.get("parameters", []) + described["_shared"]]
        query = {p["name"] for p in params if p.get("in") == "query"}
        assert set(op.params or {}) <= query, (key, set(op.params or {}) - query)
        if isinstance(op.json, dict) and op.json:
            body = described.get("requestBody")
            assert body is not None, key
            schema = resolve(spec, body)["content"]["application/json"]["schema"]
            names = properties(spec, schema)
            if names is not None:
                assert set(op.json) <= names, (key, set(op.json) - names)
        for header in op.headers:
            assert header.lower() in {p["name"].lower() for p in params if p.get("in") == "header"}, (
                key,
                header,
            )


def response_properties(spec: dict[str, Any], described: dict[str, Any]) -> set[str] | None:
    for code in ("200", "201", "202"):
        answer = resolve(spec, described["responses"].get(code, {}))
        if "content" in answer:
            return properties(spec, answer["content"]["application/json"]["schema"])
    return None


def test_result_models_read_only_documented_fields(spec: dict[str, Any]) -> None:
    """A model's fields all appear in the answer of some route it is read from."""
    operations = spec_operations(spec)
    documented: dict[type[BaseModel], set[str]] = {}
    for op in sdk_ops():
        cls = getattr(op.parse, "__self__", None)
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            continue
        names = response_properties(
            spec, operations[(op.method, template(op.path.replace(ops.seg(P), "{}")))]
        )
        if names is not None:
            documented.setdefault(cls, set()).update(names)
    assert len(documented) >= 12
    sdk_only = {"is_fallback"}  # set by get_prompt's fallback, never by the server
    for cls, names in documented.items():
        fields = {f.alias or n for n, f in cls.model_fields.items()} - sdk_only
        assert fields <= names, (cls.__name__, fields - names)


def test_nested_models_read_only_documented_fields(spec: dict[str, Any]) -> None:
    from prompt_ledger import models as m

    pairs: list[tuple[type[BaseModel], str]] = [
        (m.ExecutionSpan, "ExecutionSpan"),
        (m.ExecutionLink, "ExecutionLink"),
        (m.Span, "SpanNode"),
        (m.TraceSummary, "TraceSummary"),
        (m.Label, "Label"),
        (m.ChatMessage, "ChatMessage"),
        (m.ModelPrice, "Model"),
        (m.Stats, "ModelStats"),
    ]
    schemas = spec["components"]["schemas"]
    checked = 0
    for cls, schema_name in pairs:
        if schema_name not in schemas:
            continue
        names = properties(spec, schemas[schema_name])
        if names is None:
            continue
        fields = {f.alias or n for n, f in cls.model_fields.items()}
        assert fields <= names, (cls.__name__, fields - names)
        checked += 1
    assert checked >= 5
