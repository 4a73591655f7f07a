"""A real OpenAI-compatible HTTP server for tests: the paid LLM API is the one thing the suite fakes.

    with OpenAIStub(reply="The answer [1].") as stub:
        client = openai.OpenAI(base_url=stub.base_url, api_key="x")
        stub.fail_next(status=429, times=2, retry_after=1)   # the next two requests get 429, then it answers
        stub.hang_next(seconds=5.0)                          # the request after waits 5 s before answering
        stub.break_stream_after(2)                           # the next stream drops the connection after 2 tokens
        stub.break_stream_after(2, abrupt=False)             # ... or ends it cleanly, unfinished (as a proxy would)
        stub.reply = lambda messages: messages[-1]["content"].upper()
        stub.report_usage = False                            # act like a server that sends no usage
        stub.requests                                        # every JSON body received, in order

It speaks ``POST /v1/chat/completions`` (JSON, or SSE when ``stream`` is true, with a final usage
chunk when ``stream_options.include_usage`` is set), ``GET /v1/models``, and OpenAI's error JSON for
everything else. A token is a whitespace-separated word, in the prompt and in the reply, so tests
can compute the expected cost by hand. ``fail_next`` and ``hang_next`` queue one action per request,
in the order they were called.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[list[dict[str, Any]]], str]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
                429: "rate_limit_exceeded"}


@dataclass(frozen=True)
class _Fail:
    status: int
    retry_after: float | None


@dataclass(frozen=True)
class _Hang:
    seconds: float


def count_tokens(text: str) -> int:
    """The stub's tokenizer: whitespace-separated words."""
    return len(text.split())


class OpenAIStub:
    def __init__(self, reply: Reply = "Hello from the stub.", model: str = "stub-model") -> None:
        self.reply = reply
        self.model = model
        self.report_usage = True
        self.requests: list[dict[str, Any]] = []
        #: the bearer token of every request, so tests can check which API key was sent
        self.api_keys: list[str] = []
        self._actions: deque[_Fail | _Hang] = deque()
        self._break: tuple[int, bool] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stub is not running: use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def fail_next(self, status: int = 500, times: int = 1, retry_after: float | None = None) -> None:
        with self._lock:
            self._actions.extend(_Fail(status, retry_after) for _ in range(times))

    def hang_next(self, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._actions.extend(_Hang(seconds) for _ in range(times))

    def break_stream_after(self, n_tokens: int, abrupt: bool = True) -> None:
        """The next streamed answer stops after ``n_tokens`` content chunks, with no finish_reason.

        ``abrupt`` drops the socket mid-body, as a crashed server does; otherwise the HTTP response
        ends properly, as a proxy ends it when the server behind it dies.
        """
        with self._lock:
            self._break = (n_tokens, abrupt)

    def start(self) -> OpenAIStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval keeps stop() (and so each test's teardown) quick.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name="openai-stub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._stopping.set()  # wakes hanging handlers so shutdown does not wait for them
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler -------------------------------------------------------------------

    def _receive(self, body: dict[str, Any], api_key: str) -> tuple[_Fail | _Hang | None, tuple[int, bool] | None]:
        with self._lock:
            self.requests.append(body)
            self.api_keys.append(api_key)
            action = self._actions.popleft() if self._actions else None
            stream_break = None
            if body.get("stream") and not isinstance(action, _Fail):
                stream_break, self._break = self._break, None
            return action, stream_break

    def _answer(self, messages: list[dict[str, Any]]) -> str:
        return self.reply(messages) if callable(self.reply) else self.reply


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIStub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            model = {"id": self.owner.model, "object": "model", "created": 0, "owned_by": "stub"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_error(404, f"Unknown path {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(404, f"Unknown path {self.path}")
            return
        try:
            body = json.loads(raw)
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            self._send_error(400, "The body must be JSON with a 'messages' list.")
            return
        api_key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        action, stream_break = self.owner._receive(body, api_key)
        if isinstance(action, _Fail):
            headers = {} if action.retry_after is None else {"Retry-After": f"{action.retry_after:g}"}
            self._send_error(action.status, f"Scripted failure {action.status}.", headers)
            return
        if isinstance(action, _Hang) and self.owner._stopping.wait(action.seconds):
            return
        pieces = re.findall(r"\s*\S+", self.owner._answer(messages))
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        finish = "length" if limit is not None and len(pieces) > limit else "stop"
        pieces = pieces[:limit] if limit is not None else pieces
        usage = _usage(messages, len(pieces)) if self.owner.report_usage else None
        try:
            if body.get("stream"):
                include_usage = (body.get("stream_options") or {}).get("include_usage")
                self._send_stream(pieces, finish, usage if include_usage else None, stream_break)
            else:
                self._send_json(200, {
                    "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
                    "model": self.owner.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces)},
                                 "finish_reason": finish, "logprobs": None}],
                } | ({"usage": usage} if usage else {}))
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout fired)
            self.close_connection = True

    def _send_stream(self, pieces: list[str], finish: str, usage: dict[str, int] | None,
                     stream_break: tuple[int, bool] | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._send_event(self._chunk({"role": "assistant", "content": ""}, None))
        for n, piece in enumerate(pieces):
            if stream_break is not None and n == stream_break[0]:
                if stream_break[1]:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)  # no closing chunk: the client sees a broken body
                    self.close_connection = True
                    return
                break
            self._send_event(self._chunk({"content": piece}, None))
        else:
            self._send_event(self._chunk({}, finish))
            if usage is not None:
                self._send_event(self._chunk(None, None) | {"usage": usage})
            self._send_raw(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, delta: dict[str, str] | None, finish: str | None) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        return {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": self.owner.model, "choices": choices, "usage": None}

    def _send_event(self, payload: dict[str, Any]) -> None:
        self._send_raw(f"data: {json.dumps(payload)}\n\n".encode())

    def _send_raw(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        error_type = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        error = {"message": message, "type": error_type, "param": None, "code": None}
        self._send_json(status, {"error": error}, headers)


def _usage(messages: list[dict[str, Any]], completion_tokens: int) -> dict[str, int]:
    prompt_tokens = sum(count_tokens(str(m.get("content") or "")) for m in messages)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}
