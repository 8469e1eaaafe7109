"""Local stand-ins for the embedding APIs: each speaks one API's paths, request and answer shapes.

A FakeAPI runs a stdlib HTTP server on 127.0.0.1 (a free port, a daemon thread), checks the key
and the batch limit the real API enforces, answers with `fake_vector(text)` rows in that API's
JSON shape, and can be told to fail first (429 with Retry-After, 5xx) or to answer too slowly.
Every request is recorded so tests can count calls and batch sizes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

KEY = "sk-test-key"

# path a provider posts to (below the fake's url), and each API's documented texts-per-request limit
PATHS = {"openai": "/embeddings", "cohere": "/v2/embed", "vectro": "/embed",
         "huggingface": "/{model}/pipeline/feature-extraction"}
LIMITS = {"openai": 2048, "cohere": 96, "huggingface": 128, "vectro": 256}


def fake_vector(text: str, dim: int) -> np.ndarray:
    """A deterministic float32 vector for a text (seeded by its sha256)."""
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def _error(kind: str, status: int, message: str) -> dict:
    """The error body each API sends."""
    if kind == "openai":
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    if kind == "cohere":
        return {"message": message}
    if kind == "huggingface":
        return {"error": message}
    return {"error": {"code": status, "message": message}}


class FakeAPI:
    def __init__(self, kind: str, dim: int = 8, model: str = "test-model", key: str | None = KEY):
        self.kind, self.dim, self.model, self.key = kind, dim, model, key
        self.requests: list[dict] = []  # {"path", "auth", "body"}
        self.script: list[dict] = []  # answers to give first: {"status", "retry_after", "delay", "body"}
        self.answer_dim = dim  # the length of the vectors it answers with

    # ----- scripting -----
    def fail(self, status: int, times: int = 1, retry_after: str | None = None, body: dict | None = None):
        """Answer the next `times` requests with this status and body (default: the API's error body)."""
        self.script += [{"status": status, "retry_after": retry_after, "body": body}] * times

    def stall(self, seconds: float, times: int = 1):
        self.script += [{"delay": seconds}] * times

    @property
    def texts_seen(self) -> list[str]:
        field = {"openai": "input", "huggingface": "inputs"}.get(self.kind, "texts")
        return [t for r in self.requests for t in r["body"][field]]

    # ----- serving -----
    @property
    def url(self) -> str:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        return {"openai": f"{base}/v1", "huggingface": f"{base}/hf-inference/models"}.get(self.kind, base)

    def __enter__(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                status, headers, payload = api.answer(self.path, self.headers.get("Authorization"), body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    data = json.dumps(payload).encode()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout tests)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, auth: str | None, body: dict):
        kind = self.kind
        prefix = {"openai": "/v1", "huggingface": "/hf-inference/models"}.get(kind, "")
        if path != prefix + PATHS[kind].format(model=self.model):
            return 404, {}, _error(kind, 404, f"no route {path}")
        if self.key is not None and auth != f"Bearer {self.key}":
            return 401, {}, _error(kind, 401, "Incorrect API key provided" if kind == "openai" else "invalid api token")
        if self.script:
            step = self.script.pop(0)
            if "delay" in step:
                time.sleep(step["delay"])
            else:
                headers = {"Retry-After": step["retry_after"]} if step["retry_after"] is not None else {}
                return step["status"], headers, step["body"] or _error(kind, step["status"], "rate limit reached"
                                                                       if step["status"] == 429 else "server error")
        texts = body.get({"openai": "input", "huggingface": "inputs"}.get(kind, "texts"))
        if not isinstance(texts, list) or len(texts) > LIMITS[kind]:
            return 400, {}, _error(kind, 400, f"at most {LIMITS[kind]} texts per request")
        rows = [fake_vector(t, self.answer_dim).tolist() for t in texts]
        if kind == "openai":
            data = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
            return 200, {}, {"object": "list", "data": data[::-1], "model": body["model"],  # order is by "index"
                             "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}}
        if kind == "cohere":
            assert body["embedding_types"] == ["float"] and body["input_type"]
            return 200, {}, {"id": "fake", "embeddings": {"float": rows}, "texts": texts,
                             "meta": {"api_version": {"version": "2"}}, "response_type": "embeddings_by_type"}
        if kind == "huggingface":
            return 200, {}, rows
        return 200, {}, {"embeddings": rows, "model": body.get("model"), "dimension": self.answer_dim}
