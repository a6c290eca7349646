"""A local server speaking the Bot API's documented HTTP shape, for tests only.

``POST /bot<token>/<method>`` with JSON, form or multipart bodies; ``GET /file/bot<token>/<path>``
for downloads. It keeps a queue of updates with getUpdates' offset semantics (an offset confirms,
and forgets, every earlier update; unconfirmed ones are returned again), records every call, and
answers scripted errors (``fail("sendMessage", 429, retry_after=1)``) before the normal answer.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

TOKEN = "123456789:AAFakeTokenForOporaTests_abcdefghijk"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # field → (name, type, data)


class FakeBotApi:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id → (file_path, bytes)
        self._updates: list[dict[str, Any]] = []
        self._script: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._next_message_id = 5000
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.get_updates_calls = 0
        self._stopping = False

    # -- test controls ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def push_update(self, update: dict[str, Any]) -> None:
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    def pending_update_ids(self) -> list[int]:
        with self._changed:
            return [u["update_id"] for u in self._updates]

    def fail(self, method: str, status: int, description: str = "", **parameters: Any) -> None:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": status,
            "description": description or f"Error {status}",
        }
        if parameters:
            body["parameters"] = parameters
        self._script.setdefault(method, []).append((status, body))

    def add_file(self, file_id: str, data: bytes, path: str) -> None:
        self.files[file_id] = (path, data)

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # -- the API ---------------------------------------------------------------------------------

    def answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        self.calls.append(call)
        if self._script.get(call.method):
            return self._script[call.method].pop(0)
        if call.method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(call.params)}
        if call.method == "getFile":
            found = self.files.get(str(call.params.get("file_id")))
            if found is None:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return 200, {"ok": True, "result": {"file_id": call.params["file_id"], "file_path": found[0]}}
        if call.method in ("sendMessage", "sendPhoto", "sendDocument"):
            self._next_message_id += 1
            chat = {"id": int(call.params["chat_id"]), "type": "private"}
            return 200, {"ok": True, "result": {"message_id": self._next_message_id, "chat": chat, "date": 0}}
        if call.method == "answerCallbackQuery":
            return 200, {"ok": True, "result": True}
        if call.method in ("setWebhook", "deleteWebhook"):
            return 200, {"ok": True, "result": True, "description": "Webhook was set"}
        if call.method == "getWebhookInfo":
            return 200, {"ok": True, "result": {"url": "", "pending_update_count": len(self._updates)}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.get_updates_calls += 1
        offset = params.get("offset")
        wait = min(float(params.get("timeout", 0)), 5.0)
        limit = int(params.get("limit", 100))
        deadline = time.monotonic() + wait
        with self._changed:
            if offset is not None:
                self._updates = [u for u in self._updates if u["update_id"] >= int(offset)]
            while not self._updates and time.monotonic() < deadline and not self._stopping:
                self._changed.wait(timeout=max(0.0, deadline - time.monotonic()))
            return list(self._updates[:limit])


class _Handler(BaseHTTPRequestHandler):
    api: FakeBotApi

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        prefix = f"/file/bot{self.api.token}/"
        if not self.path.startswith(prefix):
            self._send(404, b"not found", "text/plain")
            return
        path = self.path[len(prefix) :]
        for stored_path, data in self.api.files.values():
            if stored_path == path:
                self._send(200, data, "application/octet-stream")
                return
        self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != f"bot{self.api.token}":
            self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        call = Call(parts[1], {})
        kind = self.headers.get("content-type", "")
        if kind.startswith("application/json"):
            call.params = json.loads(body or b"{}")
        elif kind.startswith("multipart/form-data"):
            message = BytesParser(policy=policy.HTTP).parsebytes(
                b"Content-Type: " + kind.encode() + b"\r\n\r\n" + body
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                if part.get_filename():
                    call.files[str(name)] = (str(part.get_filename()), part.get_content_type(), data)
                else:
                    call.params[str(name)] = data.decode()
        elif body:
            call.params = dict(parse_qsl(body.decode()))
        status, answer = self.api.answer(call)
        self._json(status, answer)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a long poll whose client was cancelled (a stopped poller)
