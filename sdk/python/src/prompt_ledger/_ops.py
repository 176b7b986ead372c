"""Every API operation as data: the request to send and how to read the answer.

The sync and the async client send the same :class:`Op` values, so the two
cannot drift apart in paths, parameters or parsing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from . import models as m

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class _NotGiven:
    """Marks an argument left out, where ``None`` means something (``owner_team=None`` clears it)."""

    _instance: _NotGiven | None = None

    def __new__(cls) -> _NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN = _NotGiven()


@dataclass
class Op(Generic[T]):
    """One request and the parser of its JSON answer.

    ``safe_to_resend``: the request may be sent again after it possibly
    reached the server (reads, idempotent writes, writes with an idempotency
    key). Requests that never left (connection refused) and answers of 429 or
    503 (nothing was done) are retried either way.
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    safe_to_resend: bool = True
    max_retries: int | None = None
    #: Read timeout for this request in seconds, when it differs from the client's.
    timeout: float | None = None


def seg(value: str | int) -> str:
    """A path segment, escaped."""
    return quote(str(value), safe="")


def model(cls: type[M]) -> Callable[[Any], M]:
    return cls.model_validate


def model_list(cls: type[M], key: str = "data") -> Callable[[Any], list[M]]:
    def parse(body: Any) -> list[M]:
        return [cls.model_validate(item) for item in body[key]]

    return parse


def timestamp(value: datetime | str | int | float | None) -> str | None:
    """A time-range parameter: datetimes become RFC 3339 UTC, strings and
    epoch milliseconds are sent as given."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, float):
        return str(int(value))
    return str(value)


def query(**params: Any) -> dict[str, Any]:
    """Query parameters without the ``None`` ones; booleans as ``true``/``false``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body without the fields left out (``NOT_GIVEN``) or ``None``."""
    return {k: v for k, v in fields.items() if v is not None and v is not NOT_GIVEN}


def messages_json(
    messages: Sequence[m.ChatMessage | Mapping[str, str]] | None,
) -> list[dict[str, str]] | None:
    if messages is None:
        return None
    return [
        {"role": msg.role, "content": msg.content} if isinstance(msg, m.ChatMessage) else dict(msg)
        for msg in messages
    ]


# ---- prompts ----


def create_prompt(
    name: str,
    template: str | None,
    messages: Sequence[m.ChatMessage | Mapping[str, str]] | None,
    description: str | None,
    owner_team: str | None,
    mode: str | None,
    config: Mapping[str, Any] | None,
    created_by: str | None,
) -> Op[m.Prompt]:
    return Op(
        "POST",
        "/v1/prompts",
        model(m.Prompt),
        json=body(
            name=name,
            template=template,
            messages=messages_json(messages),
            description=description,
            owner_team=owner_team,
            mode=mode,
            config=dict(config) if config is not None else None,
            created_by=created_by,
        ),
        # A resent create may find its own first attempt: 409.
        safe_to_resend=False,
    )


def prompt_details(name: str) -> Op[m.Prompt]:
    return Op("GET", f"/v1/prompts/{seg(name)}", model(m.Prompt))


def active_version(name: str) -> Op[m.PromptVersion]:
    def parse(raw: Any) -> m.PromptVersion:
        from .errors import NotFoundError

        prompt = m.Prompt.model_validate(raw)
        # As everywhere a name is resolved, an archived prompt is not found.
        if prompt.archived:
            raise NotFoundError(f"prompt `{name}` is archived", code="not_found", status=404)
        if not isinstance(prompt.active_version, m.PromptVersion):
            raise NotFoundError(f"prompt `{name}` has no active version", code="not_found", status=404)
        version = prompt.active_version
        version.labels = [label.label for label in prompt.labels or [] if label.version == version.version]
        return version

    return Op("GET", f"/v1/prompts/{seg(name)}", parse)


def list_prompts_page(
    cursor: str | None,
    limit: int | None,
    prefix: str | None,
    mode: str | None,
    owner_team: str | None,
    include_archived: bool | None,
) -> Op[m.Page]:
    params = query(
        cursor=cursor,
        limit=limit,
        prefix=prefix,
        mode=mode,
        owner_team=owner_team,
        include_archived=include_archived,
    )
    return Op("GET", "/v1/prompts", model(m.Page), params=params)


def update_metadata(name: str, description: str | Any | None, owner_team: str | Any | None) -> Op[m.Prompt]:
    payload: dict[str, Any] = {}
    if description is not NOT_GIVEN and description is not None:
        payload["description"] = description
    if owner_team is not NOT_GIVEN:
        payload["owner_team"] = owner_team
    return Op("PATCH", f"/v1/prompts/{seg(name)}", model(m.Prompt), json=payload)


def set_archived(name: str, archived: bool) -> Op[m.Prompt]:
    action = "archive" if archived else "unarchive"
    return Op("POST", f"/v1/prompts/{seg(name)}:{action}", model(m.Prompt))


def create_version(
    name: str,
    template: str | None,
    messages: Sequence[m.ChatMessage | Mapping[str, str]] | None,
    config: Mapping[str, Any] | None,
    status: str | None,
    created_by: str | None,
    message: str | None,
) -> Op[m.PromptVersion]:
    payload = body(
        template=template,
        messages=messages_json(messages),
        config=dict(config) if config is not None else None,
        status=status,
        created_by=created_by,
        message=message,
    )
    # The same body again answers the existing version: safe to resend.
    return Op("POST", f"/v1/prompts/{seg(name)}/versions", model(m.PromptVersion), json=payload)


def list_versions_page(name: str, cursor: str | None, limit: int | None) -> Op[m.Page]:
    params = query(cursor=cursor, limit=limit)
    return Op("GET", f"/v1/prompts/{seg(name)}/versions", model(m.Page), params=params)


def get_version(name: str, version: int) -> Op[m.PromptVersion]:
    return Op("GET", f"/v1/prompts/{seg(name)}/versions/{seg(version)}", model(m.PromptVersion))


def activate(name: str, version: int) -> Op[m.PromptVersion]:
    return Op("POST", f"/v1/prompts/{seg(name)}/versions/{seg(version)}:activate", model(m.PromptVersion))


def list_labels(name: str) -> Op[list[m.Label]]:
    return Op("GET", f"/v1/prompts/{seg(name)}/labels", model_list(m.Label))


def get_label(name: str, label: str) -> Op[m.Label]:
    return Op("GET", f"/v1/prompts/{seg(name)}/labels/{seg(label)}", model(m.Label))


def set_label(name: str, label: str, version: int) -> Op[m.Label]:
    return Op(
        "PUT", f"/v1/prompts/{seg(name)}/labels/{seg(label)}", model(m.Label), json={"version": version}
    )


def delete_label(name: str, label: str) -> Op[m.Label]:
    return Op("DELETE", f"/v1/prompts/{seg(name)}/labels/{seg(label)}", model(m.Label))


def render(
    name: str, variables: Mapping[str, Any] | None, version: int | None, label: str | None
) -> Op[m.RenderResult]:
    payload = body(variables=dict(variables or {}), version=version, label=label)
    return Op("POST", f"/v1/prompts/{seg(name)}:render", model(m.RenderResult), json=payload)


def diff(name: str, from_version: int, to_version: int) -> Op[m.PromptDiff]:
    params = {"from": from_version, "to": to_version}
    return Op("GET", f"/v1/prompts/{seg(name)}/diff", model(m.PromptDiff), params=params)


CodePrompt = tuple[str, str] | tuple[str, str, Mapping[str, Any]] | Mapping[str, Any]


def register(prompts: Iterable[CodePrompt] | Mapping[str, str]) -> Op[m.RegisterResult]:
    items: list[dict[str, Any]] = []
    source: Iterable[Any] = prompts.items() if isinstance(prompts, Mapping) else prompts
    for entry in source:
        if isinstance(entry, Mapping):
            items.append(dict(entry))
        elif isinstance(entry, tuple) and len(entry) in (2, 3):
            item: dict[str, Any] = {"name": entry[0]}
            if isinstance(entry[1], str):
                item["template"] = entry[1]
            else:
                item["messages"] = messages_json(entry[1])
            if len(entry) == 3:
                item["config"] = dict(entry[2])
            items.append(item)
        else:
            raise TypeError("each code prompt is (name, template), (name, template, config) or a dict")
    return Op("POST", "/v1/prompts:register", model(m.RegisterResult), json={"prompts": items})


# ---- executions ----


def model_arg(value: str | Mapping[str, Any] | m.ModelRef | None) -> Any:
    """``{"provider", "model_name"}``, ``"provider/model"`` or a bare model name."""
    if value is None:
        return None
    if isinstance(value, m.ModelRef):
        return {"provider": value.provider, "model_name": value.model_name}
    if isinstance(value, str):
        provider, sep, name = value.partition("/")
        if sep and provider in ("openai", "anthropic", "mock") and name:
            return {"provider": provider, "model_name": name}
        return value
    return dict(value)


def run(payload: dict[str, Any], idempotency_key: str, trace_headers: Mapping[str, str]) -> Op[m.Execution]:
    headers = {"Idempotency-Key": idempotency_key, **trace_headers}
    timeout_ms = payload.get("timeout_ms")
    # A sync run waits for the provider: the read waits a little longer than the run may take.
    timeout = (
        timeout_ms / 1000 + 15 if isinstance(timeout_ms, int) and payload.get("mode") != "async" else None
    )
    # The idempotency key makes a resent run answer the first one: safe to resend.
    return Op(
        "POST", "/v1/executions:run", model(m.Execution), json=payload, headers=headers, timeout=timeout
    )


def get_execution(execution_id: str) -> Op[m.Execution]:
    return Op("GET", f"/v1/executions/{seg(execution_id)}", model(m.Execution))


def cancel_execution(execution_id: str) -> Op[m.Execution]:
    # A resent cancel finds the run canceled already: 409.
    return Op("POST", f"/v1/executions/{seg(execution_id)}:cancel", model(m.Execution), safe_to_resend=False)


def list_executions_page(cursor: str | None, limit: int | None, filters: Mapping[str, Any]) -> Op[m.Page]:
    return Op("GET", "/v1/executions", model(m.Page), params=query(cursor=cursor, limit=limit, **filters))


def execution_filters(
    prompt: str | None,
    version: int | None,
    status: str | None,
    provider: str | None,
    model_name: str | None,
    correlation_id: str | None,
    since: datetime | str | int | None,
    until: datetime | str | int | None,
) -> dict[str, Any]:
    return query(
        prompt=prompt,
        version=version,
        status=status,
        provider=provider,
        model=model_name,
        correlation_id=correlation_id,
        since=timestamp(since),
        until=timestamp(until),
    )


# ---- traces ----


def ingest(path: str, payload: Any, atomic: bool) -> Op[m.IngestResult]:
    params = query(atomic=True) if atomic else None
    # Re-sending a span updates it in place: safe to resend.
    return Op("POST", path, model(m.IngestResult), json=payload, params=params)


def get_trace(trace_id: str) -> Op[m.Trace]:
    return Op("GET", f"/v1/traces/{seg(trace_id)}", model(m.Trace))


def list_traces_page(cursor: str | None, limit: int | None, filters: Mapping[str, Any]) -> Op[m.Page]:
    return Op("GET", "/v1/traces", model(m.Page), params=query(cursor=cursor, limit=limit, **filters))


def trace_filters(
    service: str | None,
    status: str | None,
    has_error: bool | None,
    since: datetime | str | int | None,
    until: datetime | str | int | None,
) -> dict[str, Any]:
    return query(
        service=service, status=status, has_error=has_error, since=timestamp(since), until=timestamp(until)
    )


# ---- analytics ----


def analytics_summary(
    since: datetime | str | int | None, until: datetime | str | int | None
) -> Op[m.AnalyticsSummary]:
    params = query(since=timestamp(since), until=timestamp(until))
    return Op("GET", "/v1/analytics/summary", model(m.AnalyticsSummary), params=params)


def prompt_analytics(
    name: str,
    since: datetime | str | int | None,
    until: datetime | str | int | None,
    bucket: str | None,
) -> Op[m.PromptAnalytics]:
    params = query(since=timestamp(since), until=timestamp(until), bucket=bucket)
    return Op("GET", f"/v1/analytics/prompts/{seg(name)}", model(m.PromptAnalytics), params=params)


# ---- models, keys, health ----


def list_models() -> Op[list[m.ModelPrice]]:
    return Op("GET", "/v1/models", model_list(m.ModelPrice))


def get_model(provider: str, model_name: str) -> Op[m.ModelPrice]:
    return Op("GET", f"/v1/models/{seg(provider)}/{seg(model_name)}", model(m.ModelPrice))


def set_model_prices(
    provider: str, model_name: str, input_usd_per_mtok: float, output_usd_per_mtok: float
) -> Op[m.ModelPrice]:
    payload = {"input_usd_per_mtok": input_usd_per_mtok, "output_usd_per_mtok": output_usd_per_mtok}
    return Op("PUT", f"/v1/models/{seg(provider)}/{seg(model_name)}", model(m.ModelPrice), json=payload)


def create_api_key(
    name: str, scope: str, rate_limit_per_minute: int | None, monthly_budget_usd: float | None
) -> Op[m.CreatedApiKey]:
    payload = body(
        name=name,
        scope=scope,
        rate_limit_per_minute=rate_limit_per_minute,
        monthly_budget_usd=monthly_budget_usd,
    )
    return Op("POST", "/v1/api-keys", model(m.CreatedApiKey), json=payload, safe_to_resend=False)


def get_api_key(key_id: str) -> Op[m.ApiKeyDetail]:
    return Op("GET", f"/v1/api-keys/{seg(key_id)}", model(m.ApiKeyDetail))


def set_api_key_limits(key_id: str, rate_limit_per_minute: Any, monthly_budget_usd: Any) -> Op[m.ApiKey]:
    """A field left out (``NOT_GIVEN``) keeps its value; ``None`` removes the limit."""
    payload = {
        k: v
        for k, v in (
            ("rate_limit_per_minute", rate_limit_per_minute),
            ("monthly_budget_usd", monthly_budget_usd),
        )
        if v is not NOT_GIVEN
    }
    return Op("PATCH", f"/v1/api-keys/{seg(key_id)}", model(m.ApiKey), json=payload)


def list_api_keys(include_revoked: bool) -> Op[list[m.ApiKey]]:
    params = query(include_revoked=True) if include_revoked else None
    return Op("GET", "/v1/api-keys", model_list(m.ApiKey), params=params)


def revoke_api_key(key_id: str) -> Op[m.ApiKey]:
    return Op("DELETE", f"/v1/api-keys/{seg(key_id)}", model(m.ApiKey))


def health() -> Op[dict[str, Any]]:
    def parse(raw: Any) -> dict[str, Any]:
        return dict(raw) if isinstance(raw, dict) else {"body": raw}

    # A health check reports the state now: no retries.
    return Op("GET", "/health", parse, max_retries=0)
