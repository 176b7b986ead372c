"""Fixtures: a live PromptLedger (the one named by PROMPT_LEDGER_URL, or a
`live-host` started here), clients on it, the fake provider's call counter,
and a forwarding proxy that can break connections or stop answering."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from prompt_ledger import PromptLedger

REPO = Path(__file__).resolve().parents[3]
LIVE_HOST = REPO / "target" / "debug" / "live-host"


@dataclass
class Live:
    url: str
    api_key: str
    fake_provider_url: str | None
    host: str

    def provider_calls(self, model: str) -> int:
        """How many calls the fake provider got for ``model``."""
        if not self.fake_provider_url:
            pytest.skip("the live host did not name its fake provider")
        r = httpx.get(f"{self.fake_provider_url}/calls", params={"model": model}, timeout=5)
        r.raise_for_status()
        return int(r.json()["calls"])


def _start_live_host() -> tuple[subprocess.Popen[str], dict[str, str]]:
    if not LIVE_HOST.exists():
        subprocess.run(
            ["cargo", "build", "-q", "-p", "scenarios", "--bin", "live-host"], cwd=REPO, check=True
        )
    backend = os.environ.get("PROMPT_LEDGER_TEST_BACKEND", "sqlite")
    proc = subprocess.Popen(
        [str(LIVE_HOST), "--backend", backend],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            if line.strip().startswith("{"):
                return proc, json.loads(line)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("live-host did not print its ready line")


@contextlib.contextmanager
def private_host() -> Iterator[Live]:
    """A live host of this test's own, on a fresh database."""
    proc, info = _start_live_host()
    try:
        yield Live(info["url"], info["api_key"], info.get("fake_provider_url"), info.get("host", "native"))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def live() -> Iterator[Live]:
    url = os.environ.get("PROMPT_LEDGER_URL")
    if url:
        yield Live(
            url=url.rstrip("/"),
            api_key=os.environ["PROMPT_LEDGER_API_KEY"],
            fake_provider_url=os.environ.get("FAKE_PROVIDER_URL"),
            host=os.environ.get("PROMPT_LEDGER_TEST_HOST", "native"),
        )
        return
    with private_host() as host:
        yield host


@pytest.fixture
def ledger(live: Live) -> Iterator[PromptLedger]:
    client = PromptLedger(api_url=live.url, api_key=live.api_key)
    yield client
    client.close()


@pytest.fixture
def ledger_env(live: Live, monkeypatch: pytest.MonkeyPatch) -> Live:
    """PROMPT_LEDGER_URL and PROMPT_LEDGER_API_KEY set, as an application has them."""
    monkeypatch.setenv("PROMPT_LEDGER_URL", live.url)
    monkeypatch.setenv("PROMPT_LEDGER_API_KEY", live.api_key)
    return live


@pytest.fixture
def name() -> Callable[[str], str]:
    """Unique prompt names, so tests never meet each other's prompts."""
    run = uuid.uuid4().hex[:10]

    def make(stem: str = "p") -> str:
        return f"{stem}-{run}-{uuid.uuid4().hex[:6]}"

    return make


def dead_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---- a fault-injecting proxy ----


@dataclass
class Proxy:
    """Forwards HTTP/1.1 requests to the live host, one connection at a time
    per client connection. ``drop_after_forward`` counts requests (matching
    ``drop_path``) whose answer is thrown away and whose connection is
    closed instead, as when a network drops a response; ``stop()`` closes the
    port so nothing answers."""

    upstream: str
    drop_path: str = ""
    drop_after_forward: int = 0
    forwarded: list[str] = field(default_factory=list)
    url: str = ""

    def start(self) -> Proxy:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._upstream = httpx.Client(base_url=self.upstream, timeout=30)
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._sock.close()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._upstream.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while not self._stopped.is_set():
                request_line = reader.readline()
                if not request_line:
                    return
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                headers: list[tuple[str, str]] = []
                length = 0
                while True:
                    line = reader.readline().decode("latin-1").rstrip("\r\n")
                    if not line:
                        break
                    key, _, value = line.partition(":")
                    headers.append((key.strip(), value.strip()))
                    if key.strip().lower() == "content-length":
                        length = int(value.strip())
                body = reader.read(length) if length else b""
                forward = [
                    (k, v) for k, v in headers if k.lower() not in ("host", "connection", "content-length")
                ]
                response = self._upstream.request(method, target, headers=forward, content=body)
                with self._lock:
                    self.forwarded.append(f"{method} {target.split('?')[0]}")
                    drop = self.drop_after_forward > 0 and target.startswith(self.drop_path)
                    if drop:
                        self.drop_after_forward -= 1
                if drop:
                    conn.close()
                    return
                out = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
                for k, v in response.headers.items():
                    if k.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        out.append(f"{k}: {v}")
                out.append(f"content-length: {len(response.content)}")
                conn.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + response.content)
        except (OSError, RuntimeError, httpx.HTTPError, ValueError):
            return
        finally:
            reader.close()
            conn.close()


@pytest.fixture
def proxy(live: Live) -> Iterator[Proxy]:
    p = Proxy(live.url).start()
    yield p
    if not p._stopped.is_set():
        p.stop()
