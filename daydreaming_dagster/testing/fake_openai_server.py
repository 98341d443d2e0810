"""A small OpenAI-compatible chat-completions server for tests and benchmarks (stdlib only).

    with FakeOpenAIServer(latency_s=0.0) as srv:
        provider = OpenAICompatibleProvider(srv.base_url, "test-key")

Answers ``POST /v1/chat/completions`` (also ``/chat/completions`` and ``/api/v1/chat/completions``)
with the compat canned reply (same text and usage as daydreaming_dagster.testing.mock_llm.canned_compat_reply), echoing
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

Besides the queued faults:

- ``models={"vendor/model": (prompt_price, completion_price)}`` (USD per token) is served by
  ``GET /v1/models`` (also ``/models``, ``/api/v1/models``) in OpenRouter's shape (``pricing`` as
  decimal strings), and completions of those models report ``usage.cost``. Without ``models`` the
  list is empty, as before; ``models_endpoint=False`` makes it a 404 (a server with no catalogue).
  These GETs are counted in ``srv.models_requests``, not in ``request_count``/``requests`` (chat).
- ``srv.outage(seconds)`` / ``srv.fail_until(monotonic_deadline)``: every chat request answers 503
  (``outage_status``, optional ``Retry-After``) until the deadline, without consuming faults.
- ``srv.max_in_flight``: the most chat requests seen in flight at once.
- ``srv.completions_by_call()``: completions answered (billable: HTTP 200 with choices) per
  distinct (model, prompt); ``srv.duplicate_completions()`` those answered more than once;
  ``srv.completion_count`` their total.
- In another process: ``fetch_stats(base_url)`` (``GET /_fake/stats``: the counters above as JSON)
  and ``start_outage(base_url, seconds)`` (``POST /_fake/outage``).

Run as a process (benchmarks, integration tests):
``python -m daydreaming_dagster.testing.fake_openai_server --port 0 --latency 1.0 [--outage-s 5]
[--outage-status 503] [--models-json '{"vendor/model": [3e-06, 1.5e-05]}' | --models-json prices.json]
[--no-models-endpoint]`` prints the base URL on stdout once ready, then serves until killed.
"""

from __future__ import annotations

import argparse
import collections
import decimal
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from daydreaming_dagster.testing.mock_llm import canned_compat_text, canned_compat_usage

Fault = tuple[Any, ...]
PATHS = ("/v1/chat/completions", "/chat/completions", "/api/v1/chat/completions")
MODEL_PATHS = ("/v1/models", "/models", "/api/v1/models")
CallKey = tuple[str, str]  # (model, prompt)
#: Control paths for a server running in another process (see ``fetch_stats``/``start_outage``).
CONTROL_STATS = "/_fake/stats"
CONTROL_OUTAGE = "/_fake/outage"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True
    fake: FakeOpenAIServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate small writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK held every answer back by ~40 ms (measured), even at latency 0.
    disable_nagle_algorithm = True
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
        fake = self.server.fake
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in MODEL_PATHS:
            fake._count_models_request(dict(self.headers.items()))
            if fake.models_endpoint:
                self._send_json(200, fake._models_payload())
            else:
                self._send_json(404, {"error": {"code": 404, "message": "not found"}})
        elif path == CONTROL_STATS:
            self._send_json(200, fake.stats())
        elif path == "/health":
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
        if path == CONTROL_OUTAGE:  # control from another process; not a chat request
            seconds = float(body.get("seconds", 0)) if isinstance(body, dict) else 0.0
            fake.outage(seconds)
            self._send_json(200, {"outage_s": seconds})
            return
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
        if fake._in_outage():
            if fake.latency_s > 0:
                time.sleep(fake.latency_s)
            headers = {"Retry-After": f"{fake.outage_retry_after:g}"} if fake.outage_retry_after is not None else {}
            status = fake.outage_status
            self._send_json(status, {"error": {"code": status, "message": "fake outage"}}, headers)
            return
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
        cost = fake._cost(model, usage.prompt_tokens or 0, usage.completion_tokens or 0)
        if cost is not None:
            usage_json["cost"] = cost
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
        fake._completed(model, prompt)
        self._send_json(200, payload)


class FakeOpenAIServer:
    """The server object: start()/stop() or use as a context manager; inspect ``requests``
    (chat requests), ``request_count``, ``max_in_flight``, ``outage_requests`` (answered by the
    outage), ``models_requests``, ``completions_by_call()``; see the module docstring."""

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
        models: Mapping[str, tuple[float | None, float | None]] | None = None,
        models_endpoint: bool = True,
        outage_status: int = 503,
        outage_retry_after: float | None = None,
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
        self.models: dict[str, tuple[float | None, float | None]] | None = dict(models) if models is not None else None
        self.models_endpoint = models_endpoint
        self.outage_status = outage_status
        self.outage_retry_after = outage_retry_after
        self.outage_requests = 0
        self.models_requests = 0  # GET /models (not in request_count / requests: chat only)
        self.models_request_headers: list[dict[str, str]] = []
        self._outage_until = 0.0
        self._completions: collections.Counter[CallKey] = collections.Counter()
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
            self._completions.clear()
            self.outage_requests = 0
            self.models_requests = 0
            self.models_request_headers.clear()
            self._outage_until = 0.0

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def fail_until(self, monotonic_deadline: float) -> None:
        """Answer every chat request with ``outage_status`` until ``time.monotonic()`` passes the deadline."""
        with self._lock:
            self._outage_until = float(monotonic_deadline)

    def outage(self, seconds: float) -> float:
        """An outage of ``seconds`` from now; returns its monotonic deadline."""
        deadline = time.monotonic() + float(seconds)
        self.fail_until(deadline)
        return deadline

    def end_outage(self) -> None:
        self.fail_until(0.0)

    @property
    def in_outage(self) -> bool:
        with self._lock:
            return time.monotonic() < self._outage_until

    def completions_by_call(self) -> dict[CallKey, int]:
        """Completions answered (HTTP 200 with choices, i.e. paid) per distinct (model, prompt)."""
        with self._lock:
            return dict(self._completions)

    def duplicate_completions(self) -> dict[CallKey, int]:
        """The (model, prompt) calls answered more than once, with their counts."""
        return {k: n for k, n in self.completions_by_call().items() if n > 1}

    @property
    def completion_count(self) -> int:
        with self._lock:
            return sum(self._completions.values())

    def stats(self) -> dict[str, Any]:
        """The counters as JSON (``GET /_fake/stats``, for a server in another process)."""
        with self._lock:
            counted = sorted(self._completions.items())
            return {
                "request_count": self.request_count,
                "max_in_flight": self.max_in_flight,
                "outage_requests": self.outage_requests,
                "models_requests": self.models_requests,
                "completion_count": sum(n for _, n in counted),
                "completions": [[model, prompt, n] for (model, prompt), n in counted],
                "duplicates": [[model, prompt, n] for (model, prompt), n in counted if n > 1],
            }

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

    def _count_models_request(self, headers: dict[str, str]) -> None:
        with self._lock:
            self.models_requests += 1
            self.models_request_headers.append(headers)

    def _in_outage(self) -> bool:
        with self._lock:
            if time.monotonic() < self._outage_until:
                self.outage_requests += 1
                return True
            return False

    def _completed(self, model: str, prompt: str) -> None:
        with self._lock:
            self._completions[(model, prompt)] += 1

    def _cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        prices = self.models.get(model) if self.models is not None else None
        if prices is None or prices[0] is None or prices[1] is None:
            return None
        return prompt_tokens * prices[0] + completion_tokens * prices[1]

    def _models_payload(self) -> dict[str, Any]:
        if self.models is None:
            return {"status": "ok", "data": []}
        data = []
        for model_id, (prompt, completion) in sorted(self.models.items()):
            pricing = {
                "prompt": _price_text(prompt),
                "completion": _price_text(completion),
            }
            data.append({"id": model_id, "object": "model", "owned_by": model_id.split("/", 1)[0], "pricing": pricing})
        return {"object": "list", "data": data}

    def _gen_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"gen-fake-{self._ids}"


def _price_text(price: float | None) -> str:
    """OpenRouter's form: a decimal string per token ("-1" when the price is unknown/variable)."""
    return "-1" if price is None else format(decimal.Decimal(repr(float(price))), "f")


def load_models_json(text: str) -> dict[str, tuple[float | None, float | None]]:
    """``{"id": [prompt, completion], ...}`` from a JSON string or the path of a JSON file."""
    stripped = text.strip()
    raw = json.loads(stripped if stripped.startswith("{") else Path(stripped).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError("--models-json must be a JSON object {model: [prompt_price, completion_price]}")
    models: dict[str, tuple[float | None, float | None]] = {}
    for model, prices in raw.items():
        if not (isinstance(prices, list) and len(prices) == 2):
            raise ValueError(f"--models-json: {model!r} needs [prompt_price, completion_price]")
        models[str(model)] = (
            None if prices[0] is None else float(prices[0]),
            None if prices[1] is None else float(prices[1]),
        )
    return models


def _origin(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


def fetch_stats(base_url: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """``FakeOpenAIServer.stats()`` of a server running in another process (its printed base URL)."""
    with urllib.request.urlopen(_origin(base_url) + CONTROL_STATS, timeout=timeout_s) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def start_outage(base_url: str, seconds: float, timeout_s: float = 10.0) -> None:
    """``FakeOpenAIServer.outage(seconds)`` on a server running in another process."""
    request = urllib.request.Request(
        _origin(base_url) + CONTROL_OUTAGE,
        data=json.dumps({"seconds": seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        response.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server (canned compat replies).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--outage-s", type=float, default=0.0, help="answer every chat request 503 for N s from start")
    parser.add_argument("--outage-status", type=int, default=503, help="status answered during the outage")
    parser.add_argument("--outage-retry-after", type=float, default=None, help="Retry-After sent during the outage")
    parser.add_argument(
        "--models-json", default=None, help='models and per-token prices: \'{"vendor/m": [3e-06, 1.5e-05]}\' or a file'
    )
    parser.add_argument("--no-models-endpoint", action="store_true", help="GET /models answers 404")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(
        host=args.host,
        port=args.port,
        latency_s=args.latency,
        record_requests=False,
        models=load_models_json(args.models_json) if args.models_json else None,
        models_endpoint=not args.no_models_endpoint,
        outage_status=args.outage_status,
        outage_retry_after=args.outage_retry_after,
    )
    server.start()
    if args.outage_s > 0:
        server.outage(args.outage_s)
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
