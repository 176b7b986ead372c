"""Results read like dicts and parse both time formats; arguments are shaped
as the API takes them. No server needed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prompt_ledger import Execution, PromptCache, PromptVersion
from prompt_ledger import _ops as ops
from prompt_ledger._cache import cache_key


def test_item_access_get_contains_and_extra_fields() -> None:
    e = Execution.model_validate(
        {
            "execution_id": "e",
            "status": "succeeded",
            "response_text": "hi",
            "usage": {"total_tokens": 3},
            "new": 1,
        }
    )
    assert e["response_text"] == "hi" and e["usage"]["total_tokens"] == 3
    assert e["new"] == 1 and "new" in e and "response_text" in e and "nope" not in e
    assert e.get("nope", 5) == 5 and e.id == "e" and e.done
    with pytest.raises(KeyError):
        e["nope"]
    assert e.to_dict()["new"] == 1 and "new" in list(e.keys())


def test_timestamps_rfc3339_and_epoch_milliseconds() -> None:
    a = Execution.model_validate(
        {"execution_id": "a", "status": "queued", "created_at": "2026-12-07T23:25:18.123Z"}
    )
    b = Execution.model_validate({"execution_id": "b", "status": "queued", "created_at": 1796685918123})
    expected = datetime(2026, 12, 7, 23, 25, 18, 123000, tzinfo=timezone.utc)
    assert a.created_at == expected and b.created_at == expected
    assert a.to_dict()["created_at"].startswith("2026-12-07T23:25:18.123")


def test_time_parameters() -> None:
    assert (
        ops.timestamp(datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc))
        == "2026-01-02T03:04:05.678Z"
    )
    assert ops.timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"  # naive means UTC
    plus_one = timezone(timedelta(hours=1))
    assert ops.timestamp(datetime(2026, 1, 2, 4, 0, tzinfo=plus_one)) == "2026-01-02T03:00:00.000Z"
    assert ops.timestamp(1700000000000) == "1700000000000"
    assert ops.timestamp("2026-01-01T00:00:00Z") == "2026-01-01T00:00:00Z"


def test_model_arguments() -> None:
    assert ops.model_arg("openai/gpt-4o") == {"provider": "openai", "model_name": "gpt-4o"}
    assert ops.model_arg("gpt-4o") == "gpt-4o"
    assert ops.model_arg("meta/llama") == "meta/llama"  # not a provider: the name as given
    assert ops.model_arg({"provider": "mock", "model_name": "m"}) == {"provider": "mock", "model_name": "m"}


def test_query_and_path_shaping() -> None:
    assert ops.query(a=None, b=True, c=False, d=3) == {"b": "true", "c": "false", "d": 3}
    assert ops.get_version("a b/c", 2).path == "/v1/prompts/a%20b%2Fc/versions/2"
    op = ops.register([("A", "x"), ("B", "y", {"model": "m"}), {"name": "C", "template": "z"}])
    assert op.json == {
        "prompts": [
            {"name": "A", "template": "x"},
            {"name": "B", "template": "y", "config": {"model": "m"}},
            {"name": "C", "template": "z"},
        ]
    }
    with pytest.raises(TypeError):
        ops.register([("only-a-name",)])  # type: ignore[list-item]
    assert ops.update_metadata("p", None, None).json == {"owner_team": None}
    assert ops.update_metadata("p", "d", ops.NOT_GIVEN).json == {"description": "d"}


def test_compile_substitutes_variables_only() -> None:
    v = PromptVersion(prompt_name="p", template="Hi {{ user.name }}, {{n}} {{- x -}}!")
    assert v.compile(user={"name": "Ada"}, n=2, x=None) == "Hi Ada, 2!"
    with pytest.raises(KeyError):
        v.compile(n=1, x=1)
    with pytest.raises(ValueError, match="Jinja"):
        PromptVersion(prompt_name="p", template="{{ a | upper }}").compile(a="x")


def test_cache_entries_age_out() -> None:
    now = [100.0]
    cache = PromptCache(10, clock=lambda: now[0])
    key = cache_key("p", None, None)
    cache.put(key, PromptVersion(prompt_name="p", template="t"))
    entry = cache.get(key)
    assert entry is not None and cache.is_fresh(entry, 10)
    now[0] += 11
    assert not cache.is_fresh(entry, 10) and not cache.is_fresh(entry, 0)
    assert cache.begin_refresh(key) and not cache.begin_refresh(key)
    cache.end_refresh(key)
    assert cache_key("p", "prod", None) != cache_key("p", None, 1) != key
    cache.invalidate("p")
    assert cache.get(key) is None and len(cache) == 0
    with pytest.raises(ValueError, match="cache_ttl_seconds"):
        PromptCache(-1)
