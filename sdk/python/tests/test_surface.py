"""The sync and the async client offer the same methods with the same
parameters; the async ones are coroutines, lists are async iterators."""

from __future__ import annotations

import inspect

from prompt_ledger import AsyncPromptLedger, PromptLedger


def public(cls: type) -> dict[str, object]:
    return {n: f for n, f in vars(cls).items() if callable(f) and not n.startswith("_")}


def test_both_clients_have_the_same_methods_and_parameters() -> None:
    sync, aio = public(PromptLedger), public(AsyncPromptLedger)
    assert sorted(sync) == sorted(aio)
    assert len(sync) >= 40
    for name, fn in sync.items():
        assert inspect.signature(fn).parameters.keys() == inspect.signature(aio[name]).parameters.keys(), name  # type: ignore[arg-type]


def test_async_methods_are_awaited_and_lists_iterated() -> None:
    for name, fn in public(AsyncPromptLedger).items():
        if name.startswith("list_") and name not in ("list_labels", "list_models", "list_api_keys"):
            assert not inspect.iscoroutinefunction(fn), name  # returns an AsyncPaginator
        else:
            assert inspect.iscoroutinefunction(fn), name
