"""The prompt registry through the sync client: every prompt method."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from prompt_ledger import (
    ConflictError,
    NotFoundError,
    Prompt,
    PromptLedger,
    PromptVersion,
    ValidationError,
)

Name = Callable[[str], str]


def test_create_and_get_a_text_prompt(ledger: PromptLedger, name: Name) -> None:
    n = name("greet")
    created = ledger.create_prompt(
        n,
        "Hi {{ user }} from {{ team }}",
        description="greets",
        owner_team="core",
        config={"model": "mock-1"},
    )
    assert isinstance(created, Prompt)
    assert (created.name, created.mode, created.latest_version, created["owner_team"]) == (
        n,
        "full",
        1,
        "core",
    )
    assert isinstance(created.created_at, datetime) and created.created_at.tzinfo is not None

    version = ledger.get_prompt(n)
    assert isinstance(version, PromptVersion)
    assert version.version == 1 and version.status == "active" and version.kind == "text"
    assert version.variables == ["team", "user"]
    assert version.config == {"model": "mock-1"}
    assert len(version.checksum_hash or "") == 64
    assert version.compile(user="Ada", team="core") == "Hi Ada from core"

    details = ledger.get_prompt_details(n)
    assert isinstance(details.active_version, PromptVersion) and details.active_version.version == 1


def test_chat_prompts(ledger: PromptLedger, name: Name) -> None:
    n = name("chat")
    ledger.create_prompt(
        n, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q: {{ q }}"}]
    )
    version = ledger.get_prompt(n)
    assert version.kind == "chat" and version.messages is not None
    assert [m.role for m in version.messages] == ["system", "user"]
    assert version.compile(q="why?") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q: why?"},
    ]
    rendered = ledger.render_prompt(n, {"q": "how?"})
    assert rendered.kind == "chat" and rendered.messages is not None
    assert rendered.messages[1].content == "Q: how?"


def test_versions_activate_rollback_and_diff(ledger: PromptLedger, name: Name) -> None:
    n = name("ver")
    ledger.create_prompt(n, "v1 {{ x }}")
    draft = ledger.create_version(n, "v2 {{ x }}", message="try two")
    assert (draft.version, draft.status, draft.message) == (2, "draft", "try two")
    assert ledger.create_version(n, "v2 {{ x }}").version == 2  # the same body: the same version
    assert ledger.get_prompt(n, cache_ttl_seconds=0).version == 1

    active = ledger.activate_version(n, 2)
    assert active.status == "active"
    assert ledger.get_prompt(n).version == 2
    back = ledger.rollback(n, 1)
    assert back.version == 1 and ledger.get_prompt(n).version == 1
    assert ledger.get_version(n, 2).status == "archived"

    third = ledger.create_version(n, "v3 {{ x }}", activate=True)
    assert third.version == 3 and ledger.get_prompt(n).version == 3

    diff = ledger.diff_versions(n, 1, 3)
    assert diff.body_changed and not diff.config_changed
    assert "-v1 {{ x }}" in diff.diff and "+v3 {{ x }}" in diff.diff
    assert diff.from_.version == 1 and diff["to"].version == 3

    numbers = [v.version for v in ledger.list_versions(n, page_size=2)]
    assert numbers == [3, 2, 1]
    pages = list(ledger.list_versions(n, page_size=2).pages())
    assert [len(p.items) for p in pages] == [2, 1] and pages[-1].next_cursor is None


def test_update_prompt_keeps_the_config_and_creates_missing_prompts(ledger: PromptLedger, name: Name) -> None:
    n = name("upd")
    ledger.create_prompt(n, "one {{ a }}", config={"model": "mock-1", "params": {"temperature": 0.2}})
    updated = ledger.update_prompt(n, "two {{ a }}")
    assert (updated.version, updated.status) == (2, "active")
    assert updated.config == {"model": "mock-1", "params": {"temperature": 0.2}}
    assert ledger.execute(n, {"a": "x"}).response_text == "Mock response to: two x"

    fresh = name("upd-new")
    made = ledger.update_prompt(fresh, "made {{ b }}")
    assert made.version == 1 and ledger.get_prompt(fresh).template == "made {{ b }}"
    with pytest.raises(NotFoundError):
        ledger.update_prompt(name("nope"), "x", create_missing=False)


def test_labels(ledger: PromptLedger, name: Name) -> None:
    n = name("lab")
    ledger.create_prompt(n, "one")
    ledger.create_version(n, "two")
    label = ledger.set_label(n, "production", 1)
    assert (label.label, label.version) == ("production", 1)
    ledger.set_label(n, "staging", 2)
    assert {(lb.label, lb.version) for lb in ledger.list_labels(n)} == {("production", 1), ("staging", 2)}
    assert ledger.get_label(n, "staging").version == 2

    assert ledger.get_prompt(n, label="production").template == "one"
    assert ledger.get_prompt(n, label="staging").template == "two"
    assert ledger.get_prompt(n, version=2).template == "two"
    assert ledger.get_version(n, 1)["labels"] == ["production"]

    ledger.set_label(n, "production", 2)  # roll forward: the cached entry is dropped
    assert ledger.get_prompt(n, label="production").template == "two"
    removed = ledger.delete_label(n, "staging")
    assert removed.version == 2
    with pytest.raises(NotFoundError):
        ledger.get_label(n, "staging")
    with pytest.raises(NotFoundError):
        ledger.get_prompt(n, label="staging")


def test_render_on_the_server(ledger: PromptLedger, name: Name) -> None:
    n = name("rnd")
    ledger.create_prompt(n, "{% for i in items %}[{{ i | upper }}]{% endfor %}")
    rendered = ledger.render_prompt(n, {"items": ["a", "b"]})
    assert rendered.rendered == "[A][B]" and rendered.version.number == 1
    with pytest.raises(ValueError, match="render_prompt"):
        ledger.get_prompt(n).compile(items=[])
    with pytest.raises(ValidationError) as missing:
        ledger.render_prompt(n)
    assert missing.value.code == "missing_variables" and missing.value.missing == ["items"]


def test_list_prompts_over_pages_with_filters(ledger: PromptLedger, name: Name) -> None:
    stem = name("list")
    names = [f"{stem}-{i}" for i in range(5)]
    for i, n in enumerate(names):
        ledger.create_prompt(n, "x", owner_team="even" if i % 2 == 0 else "odd")
    listed = ledger.list_prompts(prefix=stem, page_size=2)
    assert [p.name for p in listed] == names
    assert [len(page.items) for page in listed.pages()] == [2, 2, 1]
    assert [p.name for p in ledger.list_prompts(prefix=stem, owner_team="odd")] == [names[1], names[3]]
    first = ledger.list_prompts(prefix=stem, page_size=2).first_page()
    assert first.has_more and first.items[0].active_version == 1


def test_metadata_archive_and_unarchive(ledger: PromptLedger, name: Name) -> None:
    n = name("arch")
    ledger.create_prompt(n, "x", owner_team="a")
    assert ledger.update_prompt_metadata(n, description="new words").description == "new words"
    assert ledger.update_prompt_metadata(n, owner_team=None).owner_team is None
    ledger.get_prompt(n)

    archived = ledger.archive_prompt(n)
    assert archived.archived and archived.archived_at is not None
    with pytest.raises(NotFoundError):
        ledger.get_prompt(n)  # archived prompts do not resolve, and the cache was dropped
    assert n not in [p.name for p in ledger.list_prompts(prefix=n)]
    assert n in [p.name for p in ledger.list_prompts(prefix=n, include_archived=True)]
    with pytest.raises(ConflictError) as conflict:
        ledger.create_version(n, "y")
    assert conflict.value.code == "prompt_archived"
    assert not ledger.unarchive_prompt(n).archived
    assert ledger.get_prompt(n).template == "x"


def test_register_code_prompts_is_idempotent(ledger: PromptLedger, name: Name) -> None:
    a, b, c = name("REG_A"), name("REG_B"), name("REG_C")
    first = ledger.register_code_prompts(
        [
            (a, "A {{ x }}"),
            (b, "B {{ y }}", {"model": "mock-1"}),
            {"name": c, "messages": [{"role": "user", "content": "C"}]},
        ]
    )
    assert first.summary.created == 3 and [r.status for r in first.results] == ["created"] * 3
    again = ledger.register_code_prompts({a: "A {{ x }}", b: "B changed"})
    by_name = again.by_name()
    assert by_name[a].status == "unchanged" and by_name[b].status == "updated"
    assert (by_name[b].version, by_name[b].previous_version) == (2, 1)
    assert ledger.get_prompt(b).template == "B changed"

    full = name("FULL")
    ledger.create_prompt(full, "managed")
    mixed = ledger.register_code_prompts([(full, "from code")])
    assert mixed.results[0].status == "error" and mixed.results[0].error is not None
    assert mixed.results[0].error["code"] == "mode_conflict"
