"""Measures the SDK against a live PromptLedger and prints the figures:

- ``get_prompt`` with a warm cache, against an uncached ``get_prompt`` and
  the raw HTTP request it makes;
- ``execute`` (mock provider, so the model costs nothing) against the same
  run sent as a raw HTTP request: the SDK's own overhead.

Run it with the venv of run-tests.sh, against PROMPT_LEDGER_URL /
PROMPT_LEDGER_API_KEY (``run-tests.sh --bench`` starts a test host and runs it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable

import httpx

from prompt_ledger import PromptLedger


def timed(fn: Callable[[], object], n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e6)
    return out


def timed_pair(a: Callable[[], object], b: Callable[[], object], n: int) -> tuple[list[float], list[float]]:
    """Both, alternately, so drift in the server (caches, the beat) falls on each alike."""
    for _ in range(20):
        a()
        b()
    out_a, out_b = [], []
    for _ in range(n):
        start = time.perf_counter()
        a()
        middle = time.perf_counter()
        b()
        end = time.perf_counter()
        out_a.append((middle - start) * 1e6)
        out_b.append((end - middle) * 1e6)
    return out_a, out_b


def row(label: str, samples: list[float]) -> tuple[str, float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"  {label:<44} p50 {p50:>9.1f} us   p99 {p99:>9.1f} us   (n={len(samples)})")
    return label, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300, help="samples per uncached row")
    args = parser.parse_args()
    url, key = os.environ["PROMPT_LEDGER_URL"].rstrip("/"), os.environ["PROMPT_LEDGER_API_KEY"]
    n = args.requests
    name = f"bench-{uuid.uuid4().hex[:8]}"
    headers = {"X-API-Key": key}

    with (
        PromptLedger(url, key) as ledger,
        PromptLedger(url, key, cache_ttl_seconds=0) as uncached,
        httpx.Client(base_url=url, headers=headers) as raw,
    ):
        ledger.create_prompt(name, "Hello {{ name }}!", config={"model": "mock-1"})
        print(f"SDK benchmark against {url} ({os.environ.get('PROMPT_LEDGER_TEST_HOST', 'native')} host)")
        print("get_prompt:")
        _, warm, _ = row("get_prompt, warm cache", timed(lambda: ledger.get_prompt(name), n * 20))
        cold_s, raw_s = timed_pair(
            lambda: uncached.get_prompt(name),
            lambda: raw.get(f"/v1/prompts/{name}").raise_for_status().json(),
            n,
        )
        _, cold, _ = row("get_prompt, cache_ttl_seconds=0 (HTTP)", cold_s)
        _, http_get, _ = row("raw GET /v1/prompts/{name} (httpx)", raw_s)
        speedup = cold / warm
        print(
            f"  warm cache: {speedup:,.0f}x faster than a fetch; SDK cost per fetch {cold - http_get:+.1f} us"
        )

        print("execute (mock provider):")
        body = {"prompt_name": name, "variables": {"name": "bench"}, "model": "mock-1"}

        def raw_run() -> None:
            r = raw.post("/v1/executions:run", json=body, headers={"Idempotency-Key": f"pl-{uuid.uuid4()}"})
            r.raise_for_status()
            r.json()

        raw_s, sdk_s = timed_pair(raw_run, lambda: ledger.execute(name, {"name": "bench"}, "mock-1"), n)
        _, http_run, _ = row("raw POST /v1/executions:run (httpx)", raw_s)
        _, sdk_run, _ = row("ledger.execute(...)", sdk_s)
        share = (sdk_run / http_run - 1) * 100
        print(f"  SDK overhead on execute: {sdk_run - http_run:+.1f} us at p50 ({share:+.1f}%)")

        # The same two calls against a canned answer: the SDK's own CPU cost,
        # without the server's and the network's noise.
        canned = raw.post(
            "/v1/executions:run", json=body, headers={"Idempotency-Key": f"pl-{uuid.uuid4()}"}
        ).content

        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=canned, headers={"content-type": "application/json"})

        offline = httpx.Client(transport=httpx.MockTransport(answer), base_url=url, headers=headers)
        with PromptLedger(url, key, http_client=httpx.Client(transport=httpx.MockTransport(answer))) as local:

            def raw_local() -> None:
                r = offline.post(
                    "/v1/executions:run", json=body, headers={"Idempotency-Key": f"pl-{uuid.uuid4()}"}
                )
                r.raise_for_status()
                r.json()

            raw_l, sdk_l = timed_pair(
                raw_local, lambda: local.execute(name, {"name": "bench"}, "mock-1"), n * 5
            )
        offline.close()
        print("execute, client side only (canned answer, no network):")
        _, raw_cpu, _ = row("raw httpx post + json()", raw_l)
        _, sdk_cpu, _ = row("ledger.execute(...) (typed Execution)", sdk_l)
        print(f"  SDK's own cost per execute: {sdk_cpu - raw_cpu:+.1f} us at p50")


if __name__ == "__main__":
    main()
