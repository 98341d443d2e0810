"""A small OpenAI-compatible chat-completions server for tests and benchmarks (stdlib only).

    with FakeOpenAIServer(latency_s=0.0) as srv:
        provider = OpenAICompatibleProvider(srv.base_url, "test-key")

Answers ``POST /v1/chat/completions`` (also ``/chat/completions`` and ``/api/v1/chat/completions``)
with the compat canned reply (same text and usage as tests.kit.mock_llm.canned_compat_reply), echoing
``model``. Faults are queued with ``srv.add_faults(...)`` (or ``faults=[...]``) and consumed one per
request:

    ("status", 429, {"Retry-After": "0.05"})   any status, optional headers, optional body dict
    ("reset",)                                 connection reset (RST) without a response
    ("sleep", seconds)                         answer normally after a delay (client timeouts)
    ("malformed",)                             HTTP 200 with broken JSON
    ("error_body",)                            HTTP 200 with {"error": {...}}
    ("no_choices",)                            HTTP 200 with "choices": []
    ("empty",)                                 HTTP 200 with empty content, finish_reason stop
    ("length",)                                HTTP 200 with a partial text, finish_reason length

Run as a process (benchmarks): ``python -m tests.kit.fake_openai_server --port 0 --latency 1.0``
prints the base URL on stdout once ready, then serves until killed.
"""

from __future__ import annotations

import argparse
import collections
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.kit.mock_llm import canned_compat_text, canned_compat_usage

Fault = tuple[Any, ...]
PATHS = ("/v1/chat/completions", "/chat/completions", "/api/v1/chat/completions")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True
    fake: FakeOpenAIServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence the per-request stderr log
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self._send_bytes(status, body, headers)

    def _send_bytes(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/health", "/v1/models"):
            self._send_json(200, {"status": "ok", "data": []})
        else:
            self._send_json(404, {"error": {"code": 404, "message": "not found"}})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        fake._record(path, dict(self.headers.items()), body)
        if path not in PATHS:
            self._send_json(404, {"error": {"code": 404, "message": f"no route {path}"}})
            return
        fake._enter()
        try:
            self._answer(fake, body if isinstance(body, dict) else {})
        finally:
            fake._leave()

    def _answer(self, fake: FakeOpenAIServer, body: dict[str, Any]) -> None:
        fault = fake._next_fault()
        if fake.latency_s > 0:
            time.sleep(fake.latency_s)
        kind = fault[0] if fault else None
        if kind == "sleep":
            time.sleep(float(fault[1]))  # type: ignore[index]
            kind = None
        if kind == "reset":
            self._reset()
            return
        if kind == "status":
            assert fault is not None
            status = int(fault[1])
            headers = dict(fault[2]) if len(fault) > 2 and fault[2] else {}
            error = fault[3] if len(fault) > 3 else {"error": {"code": status, "message": f"fake error {status}"}}
            self._send_json(status, error, headers)
            return
        if kind == "malformed":
            self._send_bytes(200, b'{"id": "gen-broken", "choices": [{"message": ')
            return
        if kind == "error_body":
            self._send_json(200, {"error": {"code": 502, "message": "upstream provider error", "metadata": {}}})
            return
        messages = body.get("messages") or [{}]
        prompt = str(messages[-1].get("content", "")) if isinstance(messages[-1], dict) else ""
        model = str(body.get("model", "unknown"))
        text = canned_compat_text(prompt)
        finish = "stop"
        if kind == "no_choices":
            self._send_json(200, {"id": fake._gen_id(), "object": "chat.completion", "model": model, "choices": []})
            return
        if kind == "empty":
            text = ""
        elif kind == "length":
            text, finish = text[:40], "length"
        elif kind is not None:
            raise ValueError(f"unknown fault {fault!r}")
        usage = canned_compat_usage(prompt)
        usage_json: dict[str, Any] = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
        usage_json.update(fake.usage_extra)
        payload: dict[str, Any] = {
            "id": fake._gen_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": fake.served_model or model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "native_finish_reason": finish,
                }
            ],
            "usage": usage_json,
        }
        if fake.served_provider:
            payload["provider"] = fake.served_provider
        self._send_json(200, payload)


class FakeOpenAIServer:
    """The server object: start()/stop() or use as a context manager; inspect ``requests``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        faults: Iterable[Fault] = (),
        usage_extra: dict[str, Any] | None = None,
        served_model: str | None = None,
        served_provider: str | None = None,
        record_requests: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.latency_s = latency_s
        self.usage_extra: dict[str, Any] = dict(usage_extra or {})
        self.served_model = served_model
        self.served_provider = served_provider
        self.record_requests = record_requests
        self.requests: list[dict[str, Any]] = []
        self.request_count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: collections.deque[Fault] = collections.deque(faults)
        self._lock = threading.Lock()
        self._ids = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --
    def start(self) -> FakeOpenAIServer:
        httpd = _Server((self.host, self.port), _Handler)
        httpd.fake = self
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- scripting --
    def add_faults(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        """Forget recorded requests, counters and pending faults."""
        with self._lock:
            self.requests.clear()
            self.request_count = 0
            self.max_in_flight = self.in_flight
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # -- called by the handler --
    def _record(self, path: str, headers: dict[str, str], body: Any) -> None:
        with self._lock:
            self.request_count += 1
            if self.record_requests:
                self.requests.append({"path": path, "headers": headers, "json": body, "time": time.monotonic()})

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _gen_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"gen-fake-{self._ids}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server (canned compat replies).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(host=args.host, port=args.port, latency_s=args.latency, record_requests=False)
    server.start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
