"""The client-side prompt cache against the live host: fresh entries need
no request, stale ones are served at once and refreshed in the background,
and the last entry keeps being served when the server is gone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from conftest import Live, Proxy, dead_url
from prompt_ledger import APIConnectionError, NotFoundError, PromptLedger
from prompt_ledger._cache import cache_key

Name = Callable[[str], str]


class Counting:
    """An httpx client that counts the requests it sends."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.client = httpx.Client(event_hooks={"request": [self.count]})

    def count(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)


@pytest.fixture
def counting() -> Iterator[Counting]:
    c = Counting()
    yield c
    c.client.close()


def test_a_fresh_entry_needs_no_request(live: Live, counting: Counting, name: Name) -> None:
    n = name("warm")
    with PromptLedger(api_url=live.url, api_key=live.api_key, http_client=counting.client) as ledger:
        ledger.create_prompt(n, "v1")
        counting.paths.clear()
        first = ledger.get_prompt(n)
        for _ in range(20):
            assert ledger.get_prompt(n) is first
        assert len(counting.paths) == 1
        ledger.get_prompt(n, version=1)
        ledger.get_prompt(n, version=1)
        assert len(counting.paths) == 2  # one entry per selector


def test_a_stale_entry_is_served_at_once_and_refreshed_behind(
    live: Live, counting: Counting, name: Name
) -> None:
    n = name("stale")
    with (
        PromptLedger(
            api_url=live.url, api_key=live.api_key, http_client=counting.client, cache_ttl_seconds=0.3
        ) as ledger,
        PromptLedger(api_url=live.url, api_key=live.api_key) as other,
    ):
        ledger.create_prompt(n, "old")
        assert ledger.get_prompt(n).template == "old"
        other.update_prompt(n, "new")  # another process changes it
        assert ledger.get_prompt(n).template == "old"  # still fresh
        time.sleep(0.35)
        started = time.perf_counter()
        assert ledger.get_prompt(n).template == "old"  # stale: answered from memory...
        assert time.perf_counter() - started < 0.5
        ledger.wait_for_refreshes()
        assert ledger.get_prompt(n).template == "new"  # ...and refreshed in the background


def test_ttl_zero_always_fetches(live: Live, name: Name) -> None:
    n = name("ttl0")
    with (
        PromptLedger(api_url=live.url, api_key=live.api_key) as ledger,
        PromptLedger(api_url=live.url, api_key=live.api_key) as other,
    ):
        ledger.create_prompt(n, "a")
        assert ledger.get_prompt(n).template == "a"
        other.update_prompt(n, "b")
        assert ledger.get_prompt(n).template == "a"
        assert ledger.get_prompt(n, cache_ttl_seconds=0).template == "b"
    with PromptLedger(api_url=live.url, api_key=live.api_key, cache_ttl_seconds=0) as uncached:
        other2 = PromptLedger(api_url=live.url, api_key=live.api_key)
        assert uncached.get_prompt(n).template == "b"
        other2.update_prompt(n, "c")
        assert uncached.get_prompt(n).template == "c"
        other2.close()


def test_writes_through_the_client_drop_its_entries(ledger: PromptLedger, name: Name) -> None:
    n = name("inval")
    ledger.create_prompt(n, "a")
    assert ledger.get_prompt(n).template == "a"
    ledger.update_prompt(n, "b")
    assert ledger.get_prompt(n).template == "b"
    ledger.rollback(n, 1)
    assert ledger.get_prompt(n).template == "a"


def test_the_cache_outlives_the_server(live: Live, proxy: Proxy, name: Name) -> None:
    n = name("down")
    with PromptLedger(api_url=live.url, api_key=live.api_key) as setup:
        setup.create_prompt(n, "kept {{ x }}")
        setup.set_label(n, "production", 1)
    with PromptLedger(api_url=proxy.url, api_key=live.api_key, cache_ttl_seconds=0.2) as ledger:
        warm = ledger.get_prompt(n)
        ledger.get_prompt(n, label="production")
        proxy.stop()  # the server is gone
        time.sleep(0.25)
        started = time.perf_counter()
        for _ in range(5):
            assert ledger.get_prompt(n) is warm  # stale, served at once
        assert time.perf_counter() - started < 0.5
        ledger.wait_for_refreshes()  # the background refresh failed...
        assert ledger.get_prompt(n) is warm  # ...and the entry stays,
        entry = ledger.cache.get(cache_key(n, None, None))
        assert entry is not None and ledger.cache.is_fresh(entry, 0.2)  # not retried before another TTL
        assert ledger.get_prompt(n, cache_ttl_seconds=0) is warm  # even a forced fetch falls back to it
        assert ledger.get_prompt(n, label="production").template == "kept {{ x }}"
        with pytest.raises(APIConnectionError):
            ledger.get_prompt(name("never-fetched"))


def test_the_fallback_covers_a_cold_start(live: Live, name: Name) -> None:
    url = dead_url()
    with PromptLedger(api_url=url, api_key=live.api_key) as ledger:
        started = time.perf_counter()
        prompt = ledger.get_prompt("welcome", fallback="Hello {{ name }}!")
        assert time.perf_counter() - started < 0.7  # one try: a retry would wait 0.25 s or more first
        assert prompt.is_fallback and prompt.compile(name="Ada") == "Hello Ada!"
        chat = ledger.get_prompt("chat", fallback=[{"role": "user", "content": "Hi {{ n }}"}])
        assert chat.is_fallback and chat.compile(n=1) == [{"role": "user", "content": "Hi 1"}]
    with PromptLedger(api_url=live.url, api_key=live.api_key) as ledger:
        missing = ledger.get_prompt(name("not-yet"), fallback="default")
        assert missing.is_fallback and missing.template == "default"
        n = name("real")
        ledger.create_prompt(n, "from the server")
        real = ledger.get_prompt(n, fallback="default")
        assert not real.is_fallback and real.template == "from the server"
        with pytest.raises(NotFoundError):
            ledger.get_prompt(name("not-yet"))
