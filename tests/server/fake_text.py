"""A small deterministic text model for the server's tests (as llm's conftest registers `embed-demo`).

Bag of words: each lower-cased word adds +-1 at a position fixed by its SHA-256, and the sum is
normalised, so texts sharing words are close and the same text always gives the same vector. It
runs in microseconds, in process (`WordsModel`) or behind a local HTTP `/embed` (`WordsServer`) that
a `vectro` provider in a registry file can point a real server subprocess at.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from vectro.embed import Provider

DIM = 32


def words_vector(text: str, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float64)
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        h = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
        v[h % dim] += 1.0 if (h >> 8) % 2 else -1.0
    norm = np.linalg.norm(v)
    return (v / norm if norm else v).astype(np.float32)


class WordsModel(Provider):
    kind = "words"

    def __init__(self, name: str = "words", dimension: int = DIM):
        super().__init__(name, dimension)
        self.calls: list[list[str]] = []

    def _embed_batch(self, texts):
        self.calls.append(list(texts))
        return np.stack([words_vector(t, self.dimension) for t in texts])


class WordsServer:
    """`POST /embed {"texts", "model"}` -> {"embeddings", "model", "dimension"} on a free loopback port."""

    def __enter__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = json.dumps({"embeddings": [words_vector(t).tolist() for t in body["texts"]],
                                     "model": "words", "dimension": DIM}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def registry(self, path) -> str:
        """A registry file whose default model `words` is this server; returns its path."""
        path.write_text(f'default = "words"\n\n[models.words]\nprovider = "vectro"\nurl = "{self.url}"\n'
                        f'model = "words"\ndimension = {DIM}\ndescription = "bag-of-words test model"\n')
        return str(path)
