"""Lists over cursor pages, and handles on async executions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import ExecutionTimeoutError
from .models import Execution, Page

T = TypeVar("T")

#: Polling starts at this interval and grows by half each time, up to MAX_POLL.
FIRST_POLL = 0.2
MAX_POLL = 2.0


@dataclass
class ItemsPage(Generic[T]):
    """One page of results and the cursor that fetches the next one."""

    items: list[T]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


class Paginator(Generic[T]):
    """Every item of a list, fetched page by page as the iteration reaches it."""

    def __init__(
        self, fetch: Callable[[str | None], Page], parse: Callable[[Any], T], cursor: str | None = None
    ):
        self._fetch = fetch
        self._parse = parse
        self._cursor = cursor

    def _page(self, cursor: str | None) -> ItemsPage[T]:
        page = self._fetch(cursor)
        return ItemsPage([self._parse(item) for item in page.data], page.next_cursor)

    def first_page(self) -> ItemsPage[T]:
        return self._page(self._cursor)

    def pages(self) -> Iterator[ItemsPage[T]]:
        cursor = self._cursor
        while True:
            page = self._page(cursor)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def to_list(self, max_items: int | None = None) -> list[T]:
        out: list[T] = []
        for item in self:
            if max_items is not None and len(out) >= max_items:
                break
            out.append(item)
        return out


class AsyncPaginator(Generic[T]):
    """The async form of :class:`Paginator`: ``async for item in ...``."""

    def __init__(
        self,
        fetch: Callable[[str | None], Awaitable[Page]],
        parse: Callable[[Any], T],
        cursor: str | None = None,
    ):
        self._fetch = fetch
        self._parse = parse
        self._cursor = cursor

    async def _page(self, cursor: str | None) -> ItemsPage[T]:
        page = await self._fetch(cursor)
        return ItemsPage([self._parse(item) for item in page.data], page.next_cursor)

    async def first_page(self) -> ItemsPage[T]:
        return await self._page(self._cursor)

    async def pages(self) -> AsyncIterator[ItemsPage[T]]:
        cursor = self._cursor
        while True:
            page = await self._page(cursor)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def to_list(self, max_items: int | None = None) -> list[T]:
        out: list[T] = []
        async for item in self:
            if max_items is not None and len(out) >= max_items:
                break
            out.append(item)
        return out


def _next_interval(interval: float) -> float:
    return min(MAX_POLL, interval * 1.5)


class ExecutionHandle:
    """An execution started with ``mode="async"``. ``wait()`` polls until it finishes."""

    def __init__(
        self,
        execution: Execution,
        get: Callable[[str], Execution],
        cancel: Callable[[str], Execution],
    ):
        self.execution = execution
        self._get = get
        self._cancel = cancel

    @property
    def id(self) -> str:
        return self.execution.execution_id

    execution_id = id

    @property
    def status(self) -> str:
        return self.execution.status

    def refresh(self) -> Execution:
        self.execution = self._get(self.id)
        return self.execution

    def wait(self, timeout: float | None = 120.0, poll_interval: float = FIRST_POLL) -> Execution:
        """Polls until the execution succeeded, failed or was canceled, and
        returns it (a failed run is returned, not raised: see ``error``).
        Raises :class:`ExecutionTimeoutError` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_interval
        while not self.execution.done:
            if deadline is not None and time.monotonic() + interval > deadline:
                raise ExecutionTimeoutError(
                    f"execution {self.id} is still {self.execution.status} after {timeout} s",
                    code="wait_timeout",
                    details={"execution_id": self.id, "status": self.execution.status},
                )
            time.sleep(interval)
            interval = _next_interval(interval)
            self.refresh()
        return self.execution

    def cancel(self) -> Execution:
        """Cancels the run while it is queued (409 ``ConflictError`` once it started)."""
        self.execution = self._cancel(self.id)
        return self.execution

    def __repr__(self) -> str:
        return f"ExecutionHandle(id={self.id!r}, status={self.status!r})"


class AsyncExecutionHandle:
    """The async client's :class:`ExecutionHandle`: ``await handle.wait()``."""

    def __init__(
        self,
        execution: Execution,
        get: Callable[[str], Awaitable[Execution]],
        cancel: Callable[[str], Awaitable[Execution]],
    ):
        self.execution = execution
        self._get = get
        self._cancel = cancel

    @property
    def id(self) -> str:
        return self.execution.execution_id

    execution_id = id

    @property
    def status(self) -> str:
        return self.execution.status

    async def refresh(self) -> Execution:
        self.execution = await self._get(self.id)
        return self.execution

    async def wait(self, timeout: float | None = 120.0, poll_interval: float = FIRST_POLL) -> Execution:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        interval = poll_interval
        while not self.execution.done:
            if deadline is not None and loop.time() + interval > deadline:
                raise ExecutionTimeoutError(
                    f"execution {self.id} is still {self.execution.status} after {timeout} s",
                    code="wait_timeout",
                    details={"execution_id": self.id, "status": self.execution.status},
                )
            await asyncio.sleep(interval)
            interval = _next_interval(interval)
            await self.refresh()
        return self.execution

    async def cancel(self) -> Execution:
        self.execution = await self._cancel(self.id)
        return self.execution

    def __repr__(self) -> str:
        return f"AsyncExecutionHandle(id={self.id!r}, status={self.status!r})"
