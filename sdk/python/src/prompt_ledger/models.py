"""Typed results (pydantic v2 models).

Every result also reads like the JSON it came from: ``result["response_text"]``,
``result.get("usage")``, ``"cost" in result`` and ``result.to_dict()`` work on
every model. Fields the server adds later are kept (``extra="allow"``) and
reachable the same way. Timestamps are timezone-aware ``datetime`` values
(the API sends RFC 3339 UTC; epoch milliseconds are accepted too).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AnalyticsSummary",
    "ApiKey",
    "ApiKeyDetail",
    "ApiKeyUsage",
    "ChatMessage",
    "CreatedApiKey",
    "Execution",
    "ExecutionCost",
    "ExecutionError",
    "ExecutionInputs",
    "ExecutionLatency",
    "ExecutionLink",
    "ExecutionPrompt",
    "ExecutionSpan",
    "ExecutionStatus",
    "IngestResult",
    "Label",
    "LatencyStats",
    "ModelPrice",
    "ModelRef",
    "Page",
    "Prompt",
    "PromptAnalytics",
    "PromptDiff",
    "PromptVersion",
    "RegisterResult",
    "RegisteredPrompt",
    "RenderResult",
    "Span",
    "Stats",
    "Trace",
    "TraceSummary",
    "Usage",
]


class LedgerModel(BaseModel):
    """Base of every result: a pydantic model that also reads like a dict."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        extra = self.__pydantic_extra__ or {}
        if key in extra:
            return extra[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (
            key in type(self).model_fields or key in (self.__pydantic_extra__ or {})
        )

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        return [*type(self).model_fields, *(self.__pydantic_extra__ or {})]

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-compatible data (timestamps as RFC 3339)."""
        return self.model_dump(mode="json", by_alias=True)


# ---- prompts ----


class ChatMessage(LedgerModel):
    role: str
    content: str


class Label(LedgerModel):
    label: str
    version: int
    version_id: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None


_VARIABLE = re.compile(r"{{-?\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*-?}}")
_JINJA_OTHER = re.compile(r"{%|{#|{{(?![-\s]*[A-Za-z_][A-Za-z0-9_.]*[\s-]*}})")


def _substitute(template: str, variables: dict[str, Any]) -> str:
    if _JINJA_OTHER.search(template):
        raise ValueError(
            "this template uses Jinja beyond {{ variable }} substitution; render it on the server "
            "with render_prompt() or execute()"
        )

    # Jinja's whitespace control: `{{-` and `-}}` eat the whitespace beside them.
    template = re.sub(r"\s+(?={{-)", "", template)
    template = re.sub(r"(?<=-}})\s+", "", template)

    def value_of(match: re.Match[str]) -> str:
        value: Any = variables
        for part in match.group(1).split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                raise KeyError(match.group(1))
        return "" if value is None else str(value)

    return _VARIABLE.sub(value_of, template)


class PromptVersion(LedgerModel):
    """One immutable version of a prompt: a ``template`` or chat ``messages``."""

    id: str | None = None
    prompt_id: str | None = None
    prompt_name: str
    version: int | None = None
    kind: Literal["text", "chat"] = "text"
    template: str | None = None
    messages: list[ChatMessage] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    variables: list[str] = Field(default_factory=list)
    checksum_hash: str | None = None
    status: str | None = None
    created_by: str | None = None
    message: str | None = None
    created_at: datetime | None = None
    activated_at: datetime | None = None
    labels: list[str] | None = None
    is_fallback: bool = False
    """True when ``get_prompt`` could not reach the server and answered with its ``fallback=``."""

    def compile(self, **variables: Any) -> str | list[dict[str, str]]:
        """Fills ``{{ variable }}`` (and ``{{ a.b }}``) locally, without a request.

        Returns the text, or the chat messages as dicts. Templates that use
        more of Jinja (blocks, filters) raise ``ValueError``: render those on
        the server with ``render_prompt()``. A missing variable raises ``KeyError``.
        """
        if self.messages is not None:
            return [{"role": m.role, "content": _substitute(m.content, variables)} for m in self.messages]
        return _substitute(self.template or "", variables)


class Prompt(LedgerModel):
    """A prompt's metadata, with its active version (in full from ``get_prompt_details``,
    its number in lists) and its labels."""

    id: str
    name: str
    description: str = ""
    owner_team: str | None = None
    mode: Literal["full", "tracking"] = "full"
    latest_version: int | None = None
    archived: bool = False
    archived_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    active_version: PromptVersion | int | None = None
    labels: list[Label] | None = None


class RenderedVersion(LedgerModel):
    id: str
    number: int
    checksum_hash: str


class RenderResult(LedgerModel):
    """``render_prompt``: the text (``rendered``) or chat ``messages``, without a model call."""

    kind: Literal["text", "chat"]
    rendered: str | None = None
    messages: list[ChatMessage] | None = None
    version: RenderedVersion
    config: dict[str, Any] = Field(default_factory=dict)
    variables: list[str] = Field(default_factory=list)
    prompt: dict[str, Any] | None = None


class DiffSide(LedgerModel):
    version: int
    id: str
    kind: str
    checksum_hash: str


class PromptDiff(LedgerModel):
    prompt_name: str
    from_: DiffSide = Field(alias="from")
    to: DiffSide
    diff: str
    body_changed: bool
    config_changed: bool
    config_from: dict[str, Any] = Field(default_factory=dict)
    config_to: dict[str, Any] = Field(default_factory=dict)


class RegisteredPrompt(LedgerModel):
    name: str
    status: Literal["created", "updated", "unchanged", "error"]
    version: int | None = None
    version_id: str | None = None
    checksum_hash: str | None = None
    previous_version: int | None = None
    error: dict[str, Any] | None = None


class RegisterSummary(LedgerModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0


class RegisterResult(LedgerModel):
    results: list[RegisteredPrompt]
    summary: RegisterSummary

    def by_name(self) -> dict[str, RegisteredPrompt]:
        return {r.name: r for r in self.results}


# ---- executions ----

ExecutionStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})


class ExecutionPrompt(LedgerModel):
    id: str | None = None
    name: str
    version: int
    version_id: str | None = None


class ModelRef(LedgerModel):
    provider: str
    model_name: str


class Usage(LedgerModel):
    prompt_tokens: int | None = None
    response_tokens: int | None = None
    total_tokens: int | None = None


class ExecutionLatency(LedgerModel):
    provider: int | None = None
    total: int | None = None


class ExecutionCost(LedgerModel):
    usd: float | None = None
    nanos: int | None = None


class ExecutionError(LedgerModel):
    type: str
    message: str | None = None
    provider_status: int | None = None


class ExecutionInputs(LedgerModel):
    variables: dict[str, Any] | None = None
    model_config_: dict[str, Any] | None = Field(default=None, alias="model_config")
    params: dict[str, Any] | None = None
    template: str | None = None


class ExecutionSpan(LedgerModel):
    """The span an execution wrote into its trace (times in epoch microseconds)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    name: str | None = None
    span_type: str | None = None
    status: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Execution(LedgerModel):
    """One recorded run of a prompt."""

    execution_id: str
    status: ExecutionStatus
    mode: Literal["sync", "async"] | None = None
    prompt: ExecutionPrompt | None = None
    model: ModelRef | None = None
    rendered_prompt: str | list[ChatMessage] | None = None
    response_text: str | None = None
    usage: Usage = Field(default_factory=Usage)
    latency_ms: ExecutionLatency = Field(default_factory=ExecutionLatency)
    cost: ExecutionCost = Field(default_factory=ExecutionCost)
    correlation_id: str | None = None
    idempotency_key: str | None = None
    attempts: int | None = None
    max_attempts: int | None = None
    next_attempt_at: datetime | None = None
    error: ExecutionError | None = None
    trace_id: str | None = None
    span_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    idempotent_replay: bool = False
    inputs: ExecutionInputs | None = None
    span: ExecutionSpan | None = None

    @property
    def id(self) -> str:
        return self.execution_id

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


# ---- traces ----


class ExecutionLink(LedgerModel):
    """The execution a span belongs to, with its prompt version."""

    id: str
    status: str | None = None
    prompt_id: str | None = None
    prompt_name: str | None = None
    prompt_version_id: str | None = None
    version: int | None = None
    provider: str | None = None
    model: str | None = None


class Span(LedgerModel):
    span_id: str
    name: str
    parent_span_id: str | None = None
    span_type: str | None = None
    service_name: str | None = None
    status: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: float | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    input: Any = None
    output: Any = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: Any = None
    execution_id: str | None = None
    execution: ExecutionLink | None = None
    orphan: bool = False
    children: list[Span] = Field(default_factory=list)

    def walk(self) -> Iterator[Span]:
        """This span and every span below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


class TraceSummary(LedgerModel):
    trace_id: str
    service_name: str | None = None
    name: str | None = None
    status: str | None = None
    has_error: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: float | None = None
    span_count: int = 0


class Trace(TraceSummary):
    """A trace as a tree: ``spans`` holds the roots, each with its ``children``."""

    spans: list[Span] = Field(default_factory=list)
    orphan_count: int = 0
    truncated: bool = False

    def all_spans(self) -> list[Span]:
        return [s for root in self.spans for s in root.walk()]


class IngestResult(LedgerModel):
    status: str | None = None
    trace_id: str | None = None
    trace_ids: list[str] = Field(default_factory=list)
    accepted: int = 0
    rejected: list[dict[str, Any]] = Field(default_factory=list)


# ---- analytics ----


class LatencyStats(LedgerModel):
    count: int = 0
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class Stats(LedgerModel):
    executions: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    success_rate: float | None = None
    errors_by_type: dict[str, int] = Field(default_factory=dict)
    prompt_tokens: int = 0
    response_tokens: int = 0
    total_tokens: int = 0
    cost_nanos: int = 0
    cost_usd: float = 0.0
    latency_ms: LatencyStats = Field(default_factory=LatencyStats)


class AnalyticsSummary(Stats):
    """The range's statistics; ``by_provider``, ``by_model`` and ``top_prompts``
    entries carry their keys (``provider``, ``model_name``, ``prompt_name``) as extra fields."""

    by_provider: list[Stats] = Field(default_factory=list)
    by_model: list[Stats] = Field(default_factory=list)
    top_prompts: list[Stats] = Field(default_factory=list)
    rollups_through: datetime | None = None


class VersionStats(Stats):
    version: int | None = None
    prompt_version_id: str | None = None
    by_model: list[Stats] = Field(default_factory=list)


class SeriesPoint(Stats):
    bucket_start: datetime
    versions: list[Stats] = Field(default_factory=list)


class PromptAnalytics(Stats):
    """One prompt's statistics, per version (A/B) and per time bucket."""

    prompt: dict[str, Any] | None = None
    versions: list[VersionStats] = Field(default_factory=list)
    series: list[SeriesPoint] = Field(default_factory=list)
    rollups_through: datetime | None = None


# ---- models and keys ----


class ModelPrice(LedgerModel):
    id: str | None = None
    provider: str
    model_name: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    updated_at: datetime | None = None


class ApiKey(LedgerModel):
    id: str
    name: str
    scope: Literal["read", "write", "admin"]
    key_prefix: str
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    rate_limit_per_minute: int | None = None
    """Requests per minute the key may make; ``None``: no limit."""
    monthly_budget_usd: float | None = None
    """Spend limit per calendar month (UTC) from its executions' recorded cost; ``None``: no limit."""


class ApiKeyUsage(LedgerModel):
    requests_this_minute: int = 0
    spent_this_month_usd: float = 0.0


class ApiKeyDetail(ApiKey):
    """A key with what it used of its limits."""

    usage: ApiKeyUsage = Field(default_factory=ApiKeyUsage)


class CreatedApiKey(ApiKey):
    """A new key; ``key`` is its secret, shown this once."""

    key: str


class Page(LedgerModel):
    """One page of a list: its items (raw) and the cursor of the next page."""

    data: list[dict[str, Any]]
    next_cursor: str | None = None


Span.model_rebuild()
