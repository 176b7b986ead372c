"""The synchronous client, :class:`PromptLedger`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, overload

import httpx

from . import _ops as ops
from . import models as m
from ._base import DEFAULT_MAX_RETRIES, DEFAULT_TTL_SECONDS, BaseClient, is_unreachable, retry_delay
from ._cache import CacheKey, cache_key, fallback_version
from ._handles import ExecutionHandle, Paginator
from .errors import NotFoundError, PromptLedgerError
from .otel import current_trace_headers

log = logging.getLogger("prompt_ledger")

Time = datetime | str | int
Messages = Sequence[m.ChatMessage | Mapping[str, str]]
ModelArg = str | Mapping[str, Any] | m.ModelRef


class PromptLedger(BaseClient):
    """A PromptLedger client.

    ``PromptLedger()`` reads ``PROMPT_LEDGER_URL`` and ``PROMPT_LEDGER_API_KEY``.
    Calls are retried on connection errors, 429 and 503 (``max_retries``
    times, exponential back-off with jitter, never sooner than ``Retry-After``).
    ``get_prompt`` answers from a local cache (``cache_ttl_seconds``, 60 s by
    default; 0 turns it off) and refreshes stale entries in the background.
    Pass ``http_client`` to bring your own ``httpx.Client`` (proxies, TLS,
    transports); its base URL and auth headers are set by this client.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        cache_ttl_seconds: float = DEFAULT_TTL_SECONDS,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_url,
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            cache_ttl_seconds=cache_ttl_seconds,
            default_headers=default_headers,
        )
        self._owns_client = http_client is None
        self._client = http_client or httpx.Client(timeout=self.timeout)
        self._client.base_url = httpx.URL(self.api_url)
        self._client.headers.update(self.headers)
        self._refresher: ThreadPoolExecutor | None = None
        self._refresher_lock = threading.Lock()

    # ---- lifecycle ----

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.shutdown(wait=False, cancel_futures=True)
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> PromptLedger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- transport ----

    def _send(self, op: ops.Op[ops.T]) -> ops.T:
        retries = self._retries_for(op)
        attempt = 0
        while True:
            request = self._build_request(self._client, op)
            try:
                response = self._client.send(request)
            except httpx.TransportError as e:
                if attempt < retries and self._should_retry_error(op, e):
                    time.sleep(retry_delay(attempt, None))
                    attempt += 1
                    continue
                raise self._connection_error(e) from e
            if attempt < retries and self._should_retry_response(response):
                delay = retry_delay(attempt, self._retry_after_of(response))
                log.debug(
                    "%s %s answered %s; retrying in %.2f s", op.method, op.path, response.status_code, delay
                )
                time.sleep(delay)
                attempt += 1
                continue
            return self._result(op, response)

    def health(self) -> dict[str, Any]:
        """``GET /health``: the server's dependencies (no key needed)."""
        return self._send(ops.health())

    # ---- prompts ----

    def create_prompt(
        self,
        name: str,
        template: str | None = None,
        *,
        messages: Messages | None = None,
        description: str | None = None,
        owner_team: str | None = None,
        mode: Literal["full", "tracking"] | None = None,
        config: Mapping[str, Any] | None = None,
        created_by: str | None = None,
    ) -> m.Prompt:
        """Creates a prompt; with a ``template`` (or chat ``messages``), version 1 is
        created active. ``config`` holds ``model``, ``provider`` and ``params`` defaults.
        A taken name raises :class:`ConflictError`."""
        op = ops.create_prompt(name, template, messages, description, owner_team, mode, config, created_by)
        prompt = self._send(op)
        self.cache.invalidate(name)
        return prompt

    def get_prompt(
        self,
        name: str,
        *,
        label: str | None = None,
        version: int | None = None,
        cache_ttl_seconds: float | None = None,
        fallback: str | list[dict[str, str]] | None = None,
    ) -> m.PromptVersion:
        """The prompt version an application should use, from the cache when it can.

        Picks ``version`` when given, else the version ``label`` points at, else
        the active version. A cached entry younger than the TTL is answered
        without a request; an older one is answered at once and refreshed in
        the background; when the server cannot be reached the cached entry is
        answered however old. With nothing cached, ``fallback`` (a template, or
        chat messages) is answered if the fetch fails, marked ``is_fallback``.
        ``cache_ttl_seconds=0`` always fetches.
        """
        ttl = self.cache.ttl_seconds if cache_ttl_seconds is None else cache_ttl_seconds
        key = cache_key(name, label, version)
        entry = self.cache.get(key)
        if entry is not None and ttl > 0:
            if not self.cache.is_fresh(entry, ttl):
                self._refresh_later(key, name, label, version)
            return entry.value
        quick = entry is not None or fallback is not None
        try:
            value = self._fetch_prompt(name, label, version, max_retries=0 if quick else None)
        except PromptLedgerError as e:
            if entry is not None and is_unreachable(e):
                log.warning("PromptLedger unreachable (%s); serving cached prompt %s", e, name)
                return entry.value
            if fallback is not None:
                log.warning("could not fetch prompt %s (%s); serving the fallback", name, e)
                return fallback_version(name, fallback)
            raise
        self.cache.put(key, value)
        return value

    def _fetch_prompt(
        self, name: str, label: str | None, version: int | None, max_retries: int | None = None
    ) -> m.PromptVersion:
        if version is None and label is not None:
            pointed = ops.get_label(name, label)
            pointed.max_retries = max_retries
            version = self._send(pointed).version
        op = ops.active_version(name) if version is None else ops.get_version(name, version)
        op.max_retries = max_retries
        return self._send(op)

    def _refresh_later(self, key: CacheKey, name: str, label: str | None, version: int | None) -> None:
        if not self.cache.begin_refresh(key):
            return
        with self._refresher_lock:
            if self._refresher is None:
                self._refresher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="prompt-ledger-cache")

        def refresh() -> None:
            try:
                self.cache.put(key, self._fetch_prompt(name, label, version, max_retries=0))
            except NotFoundError:
                self.cache.drop(key)
            except Exception as e:  # the stale entry stays, and is tried again a TTL later
                self.cache.defer(key)
                log.warning("background refresh of prompt %s failed: %s", name, e)
            finally:
                self.cache.end_refresh(key)

        try:
            self._refresher.submit(refresh)
        except RuntimeError:  # closed: the stale entry is all there is
            self.cache.end_refresh(key)

    def wait_for_refreshes(self, timeout: float = 10.0) -> None:
        """Waits (up to ``timeout`` s) until the background cache refreshes under way have finished."""
        deadline = time.monotonic() + timeout
        while self.cache.refreshing() and time.monotonic() < deadline:
            time.sleep(0.01)

    def get_prompt_details(self, name: str) -> m.Prompt:
        """The prompt's metadata with its active version (in full) and labels. Not cached."""
        return self._send(ops.prompt_details(name))

    def list_prompts(
        self,
        *,
        prefix: str | None = None,
        mode: Literal["full", "tracking"] | None = None,
        owner_team: str | None = None,
        include_archived: bool | None = None,
        page_size: int | None = None,
    ) -> Paginator[m.Prompt]:
        """Prompts by name; iterate for every one (pages are fetched as needed)."""

        def fetch(cursor: str | None) -> m.Page:
            return self._send(
                ops.list_prompts_page(cursor, page_size, prefix, mode, owner_team, include_archived)
            )

        return Paginator(fetch, m.Prompt.model_validate)

    def update_prompt(
        self,
        name: str,
        template: str | None = None,
        *,
        messages: Messages | None = None,
        config: Mapping[str, Any] | None = None,
        message: str | None = None,
        created_by: str | None = None,
        create_missing: bool = True,
    ) -> m.PromptVersion:
        """Makes ``template`` (or ``messages``) the prompt's active version.

        A new body becomes a new version; a body the prompt had before
        reactivates that version. ``config`` defaults to the current active
        version's, so model settings carry over. A prompt that does not exist
        yet is created (unless ``create_missing=False``).
        """
        if config is None:
            try:
                details = self.get_prompt_details(name)
            except NotFoundError:
                if not create_missing:
                    raise
                created = self.create_prompt(name, template, messages=messages, created_by=created_by)
                if not isinstance(created.active_version, m.PromptVersion):
                    raise PromptLedgerError("the created prompt has no version", code="unexpected") from None
                return created.active_version
            if isinstance(details.active_version, m.PromptVersion):
                config = details.active_version.config
        return self.create_version(
            name,
            template,
            messages=messages,
            config=config,
            activate=True,
            message=message,
            created_by=created_by,
        )

    def create_version(
        self,
        name: str,
        template: str | None = None,
        *,
        messages: Messages | None = None,
        config: Mapping[str, Any] | None = None,
        activate: bool = False,
        message: str | None = None,
        created_by: str | None = None,
    ) -> m.PromptVersion:
        """Adds a version (a draft unless ``activate``). The same body and config
        again answers the existing version."""
        status = "active" if activate else None
        op = ops.create_version(name, template, messages, config, status, created_by, message)
        version = self._send(op)
        self.cache.invalidate(name)
        return version

    def update_prompt_metadata(
        self,
        name: str,
        *,
        description: str | None = None,
        owner_team: str | ops._NotGiven | None = ops.NOT_GIVEN,
    ) -> m.Prompt:
        """Changes the description and/or owner team (``owner_team=None`` clears it)."""
        return self._send(ops.update_metadata(name, description, owner_team))

    def archive_prompt(self, name: str) -> m.Prompt:
        """Archives the prompt: hidden from lists, no longer resolved by name."""
        prompt = self._send(ops.set_archived(name, True))
        self.cache.invalidate(name)
        return prompt

    def unarchive_prompt(self, name: str) -> m.Prompt:
        prompt = self._send(ops.set_archived(name, False))
        self.cache.invalidate(name)
        return prompt

    def list_versions(self, name: str, *, page_size: int | None = None) -> Paginator[m.PromptVersion]:
        """The prompt's versions, newest first."""

        def fetch(cursor: str | None) -> m.Page:
            return self._send(ops.list_versions_page(name, cursor, page_size))

        return Paginator(fetch, m.PromptVersion.model_validate)

    def get_version(self, name: str, version: int) -> m.PromptVersion:
        """One version, with the labels pointing at it. Not cached."""
        return self._send(ops.get_version(name, version))

    def activate_version(self, name: str, version: int) -> m.PromptVersion:
        """Makes ``version`` the active one; the previous active version is archived."""
        activated = self._send(ops.activate(name, version))
        self.cache.invalidate(name)
        return activated

    def rollback(self, name: str, version: int) -> m.PromptVersion:
        """Rolls back to an earlier version (activates it)."""
        return self.activate_version(name, version)

    def list_labels(self, name: str) -> list[m.Label]:
        return self._send(ops.list_labels(name))

    def get_label(self, name: str, label: str) -> m.Label:
        return self._send(ops.get_label(name, label))

    def set_label(self, name: str, label: str, version: int) -> m.Label:
        """Points ``label`` (``production``, ``staging``, ...) at ``version``."""
        result = self._send(ops.set_label(name, label, version))
        self.cache.invalidate(name)
        return result

    def delete_label(self, name: str, label: str) -> m.Label:
        """Removes the label; answers what it pointed at."""
        result = self._send(ops.delete_label(name, label))
        self.cache.invalidate(name)
        return result

    def render_prompt(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        label: str | None = None,
    ) -> m.RenderResult:
        """Renders on the server (full Jinja), without calling a model."""
        return self._send(ops.render(name, variables, version, label))

    def diff_versions(self, name: str, from_version: int, to_version: int) -> m.PromptDiff:
        """A unified diff of two versions' bodies, and whether their configs differ."""
        return self._send(ops.diff(name, from_version, to_version))

    def register_code_prompts(
        self, prompts: Iterable[ops.CodePrompt] | Mapping[str, str]
    ) -> m.RegisterResult:
        """Tracking mode: registers the prompts your code holds, ``[(name, template), ...]``
        (or ``(name, template, config)``, dicts, or ``{name: template}``).

        Each body becomes its prompt's active version; registering the same
        batch again changes nothing.
        """
        op = ops.register(prompts)
        result = self._send(op)
        for item in op.json["prompts"]:
            self.cache.invalidate(item["name"])
        return result

    # ---- executions ----

    @overload
    def execute(
        self,
        prompt_name: str | None = None,
        variables: Mapping[str, Any] | None = None,
        model: ModelArg | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        label: str | None = None,
        template: str | None = None,
        messages: Messages | None = None,
        mode: Literal["sync"] = "sync",
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        timeout_ms: int | None = None,
        max_attempts: int | None = None,
        trace_id: str | None = None,
        parent_span_id: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> m.Execution: ...

    @overload
    def execute(
        self,
        prompt_name: str | None = None,
        variables: Mapping[str, Any] | None = None,
        model: ModelArg | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        label: str | None = None,
        template: str | None = None,
        messages: Messages | None = None,
        mode: Literal["async"],
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        timeout_ms: int | None = None,
        max_attempts: int | None = None,
        trace_id: str | None = None,
        parent_span_id: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ExecutionHandle: ...

    def execute(
        self,
        prompt_name: str | None = None,
        variables: Mapping[str, Any] | None = None,
        model: ModelArg | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        label: str | None = None,
        template: str | None = None,
        messages: Messages | None = None,
        mode: Literal["sync", "async"] = "sync",
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        timeout_ms: int | None = None,
        max_attempts: int | None = None,
        trace_id: str | None = None,
        parent_span_id: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> m.Execution | ExecutionHandle:
        """Runs a prompt through a model and records it.

        ``prompt_name`` picks a registered prompt (``version``, else ``label``,
        else its active version); ``template``/``messages`` run an inline
        prompt. ``model`` is ``{"provider", "model_name"}``, ``"provider/model"``
        or a bare model name (default: the version's stored config).

        Sync (the default) returns the finished :class:`Execution`; a provider
        failure raises :class:`ProviderError` (the failed run is recorded and on
        the error). ``mode="async"`` queues the run and returns a handle whose
        ``wait()`` polls until it finishes.

        One idempotency key is made per call (or pass your own) and reused by
        every retry, so a retried call never runs the prompt twice. The current
        OpenTelemetry context is sent as ``traceparent``. ``extra_body`` adds
        fields this SDK does not name yet to the request.
        """
        payload = self._run_payload(
            prompt_name=prompt_name,
            variables=variables,
            model=model,
            params=params,
            version=version,
            label=label,
            template=template,
            messages=messages,
            mode=mode,
            correlation_id=correlation_id,
            timeout_ms=timeout_ms,
            max_attempts=max_attempts,
            trace_id=trace_id,
            parent_span_id=parent_span_id,
        )
        payload.update(extra_body or {})
        key = idempotency_key or self._new_idempotency_key()
        trace_headers = current_trace_headers() if trace_id is None else {}
        execution = self._send(ops.run(payload, key, trace_headers))
        handle = ExecutionHandle(execution, self.get_execution, self.cancel_execution)
        if mode == "async":
            return handle
        if not execution.done:
            # A retry met its first attempt still running: wait for that one.
            wait_s = (timeout_ms or 60_000) / 1000 + 30
            execution = handle.wait(timeout=wait_s)
        return self._finished_sync(execution)

    def get_execution(self, execution_id: str) -> m.Execution:
        """One execution, with its inputs and span."""
        return self._send(ops.get_execution(execution_id))

    def cancel_execution(self, execution_id: str) -> m.Execution:
        """Cancels a queued execution (:class:`ConflictError` once it started)."""
        return self._send(ops.cancel_execution(execution_id))

    def execution_handle(self, execution_id: str) -> ExecutionHandle:
        """A handle on an existing execution (to ``wait()`` for it)."""
        return ExecutionHandle(self.get_execution(execution_id), self.get_execution, self.cancel_execution)

    def list_executions(
        self,
        *,
        prompt: str | None = None,
        version: int | None = None,
        status: m.ExecutionStatus | None = None,
        provider: str | None = None,
        model_name: str | None = None,
        correlation_id: str | None = None,
        since: Time | None = None,
        until: Time | None = None,
        page_size: int | None = None,
    ) -> Paginator[m.Execution]:
        """Executions, newest first; iterate for every one (pages fetched as needed)."""
        filters = ops.execution_filters(
            prompt, version, status, provider, model_name, correlation_id, since, until
        )

        def fetch(cursor: str | None) -> m.Page:
            return self._send(ops.list_executions_page(cursor, page_size, filters))

        return Paginator(fetch, m.Execution.model_validate)

    # ---- traces and spans ----

    def ingest_trace(self, trace: Mapping[str, Any], *, atomic: bool = False) -> m.IngestResult:
        """Stores a trace ``{trace_id, service_name, spans: [...]}`` (Prela-style).
        Invalid spans are listed in ``rejected`` (all-or-nothing with ``atomic``)."""
        return self._send(ops.ingest("/v1/traces", dict(trace), atomic))

    def ingest_spans(self, spans: Sequence[Mapping[str, Any]], *, atomic: bool = False) -> m.IngestResult:
        return self._send(ops.ingest("/v1/spans", {"spans": [dict(s) for s in spans]}, atomic))

    def get_trace(self, trace_id: str) -> m.Trace:
        """The trace as a tree, each span with its execution and prompt version."""
        return self._send(ops.get_trace(trace_id))

    def list_traces(
        self,
        *,
        service: str | None = None,
        status: Literal["unset", "ok", "error"] | None = None,
        has_error: bool | None = None,
        since: Time | None = None,
        until: Time | None = None,
        page_size: int | None = None,
    ) -> Paginator[m.TraceSummary]:
        filters = ops.trace_filters(service, status, has_error, since, until)

        def fetch(cursor: str | None) -> m.Page:
            return self._send(ops.list_traces_page(cursor, page_size, filters))

        return Paginator(fetch, m.TraceSummary.model_validate)

    # ---- analytics ----

    def analytics_summary(
        self, *, since: Time | None = None, until: Time | None = None
    ) -> m.AnalyticsSummary:
        """Counts, success rate, tokens, cost and latency percentiles, per provider,
        per model and for the top prompts."""
        return self._send(ops.analytics_summary(since, until))

    def prompt_analytics(
        self,
        name: str,
        *,
        since: Time | None = None,
        until: Time | None = None,
        bucket: Literal["hour", "day"] | None = None,
    ) -> m.PromptAnalytics:
        """One prompt's statistics, per version (A/B) and as a time series."""
        return self._send(ops.prompt_analytics(name, since, until, bucket))

    # ---- models and prices ----

    def list_models(self) -> list[m.ModelPrice]:
        return self._send(ops.list_models())

    def get_model(self, provider: str, model_name: str) -> m.ModelPrice:
        return self._send(ops.get_model(provider, model_name))

    def set_model_prices(
        self, provider: str, model_name: str, *, input_usd_per_mtok: float, output_usd_per_mtok: float
    ) -> m.ModelPrice:
        """Sets a model's prices in USD per million tokens (admin key)."""
        return self._send(ops.set_model_prices(provider, model_name, input_usd_per_mtok, output_usd_per_mtok))

    # ---- API keys (admin) ----

    def create_api_key(
        self,
        name: str,
        scope: Literal["read", "write", "admin"],
        *,
        rate_limit_per_minute: int | None = None,
        monthly_budget_usd: float | None = None,
    ) -> m.CreatedApiKey:
        """A new key; its secret (``key``) is in this answer only. Limits: requests
        per minute and a monthly budget in USD (none by default)."""
        return self._send(ops.create_api_key(name, scope, rate_limit_per_minute, monthly_budget_usd))

    def get_api_key(self, key_id: str) -> m.ApiKeyDetail:
        """One key with its limits and what it used of them (this minute, this month)."""
        return self._send(ops.get_api_key(key_id))

    def set_api_key_limits(
        self,
        key_id: str,
        *,
        rate_limit_per_minute: int | ops._NotGiven | None = ops.NOT_GIVEN,
        monthly_budget_usd: float | ops._NotGiven | None = ops.NOT_GIVEN,
    ) -> m.ApiKey:
        """Changes a key's limits at once; a limit left out keeps its value, ``None`` removes it."""
        return self._send(ops.set_api_key_limits(key_id, rate_limit_per_minute, monthly_budget_usd))

    def list_api_keys(self, *, include_revoked: bool = False) -> list[m.ApiKey]:
        return self._send(ops.list_api_keys(include_revoked))

    def revoke_api_key(self, key_id: str) -> m.ApiKey:
        return self._send(ops.revoke_api_key(key_id))
