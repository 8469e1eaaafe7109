"""Remote embedding APIs over HTTP: OpenAI, Cohere, Hugging Face Inference, and another vectro server.

Each provider sends one batch per request in that API's documented shape, with its key from an
environment variable, a timeout, and retries with exponential backoff on 429 and 5xx answers
(and on timeouts and refused connections), honouring `Retry-After`. A rejected key (401/403) or a
bad request (other 4xx) fails at once with the API's own message. Only the standard library is
used (urllib), so these need no extra.

The `vectro` provider speaks vectro's own embedding route (see `vectro.embed` for the shape).
"""

from __future__ import annotations

import email.utils
import json
import os
import socket
import time
import urllib.error
import urllib.request

from ..errors import VectroError
from .base import Provider

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_WAIT_S = 60.0  # the longest single pause between attempts, whatever the server asks


def retry_delay(attempt: int, backoff: float, retry_after: str | None) -> float:
    """Seconds to wait before attempt `attempt + 1`: the server's Retry-After, else backoff * 2^attempt."""
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), MAX_WAIT_S)
        except ValueError:
            when = email.utils.parsedate_to_datetime(retry_after) if retry_after.strip() else None
            if when is not None:
                return min(max(when.timestamp() - time.time(), 0.0), MAX_WAIT_S)
    return min(backoff * 2 ** attempt, MAX_WAIT_S)


def error_message(body: bytes) -> str:
    """The human message inside an API's error body (each API nests it differently)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:300]
    if isinstance(payload, dict):
        inner = payload.get("error", payload.get("message", payload.get("detail", payload)))
        if isinstance(inner, dict):
            inner = inner.get("message", inner)
        return str(inner)[:300]
    return str(payload)[:300]


class HTTPProvider(Provider):
    """Shared by the remote providers: the key, the request loop and its retries."""

    default_url = ""
    key_env = ""
    key_required = True

    def __init__(self, name: str, dimension: int, model: str | None = None, url: str | None = None,
                 api_key_env: str | None = None, batch_size: int | None = None, timeout: float = 30.0,
                 max_retries: int = 5, backoff: float = 0.5, options: dict | None = None):
        super().__init__(name, dimension, batch_size)
        if not timeout > 0:
            raise VectroError(f"model {name!r}: timeout must be > 0 seconds, got {timeout!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise VectroError(f"model {name!r}: max_retries must be an integer >= 0, got {max_retries!r}")
        self.model, self.url = model, (url or self.default_url).rstrip("/")
        self.key_env = api_key_env or self.key_env
        self.timeout, self.max_retries, self.backoff = float(timeout), max_retries, float(backoff)
        self.options = dict(options or {})

    def api_key(self) -> str | None:
        key = os.environ.get(self.key_env) if self.key_env else None
        if not key and self.key_required:
            raise VectroError(f"model {self.name!r} ({self.kind}) needs an API key in the environment variable "
                              f"{self.key_env}")
        return key

    def missing(self) -> str | None:
        try:
            self.api_key()
        except VectroError as exc:
            return str(exc)
        return None

    def post(self, url: str, payload: dict) -> object:
        """POST JSON and return the decoded answer, retrying what a retry can fix."""
        key = self.api_key()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(payload).encode()
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    body = answer.read()
                try:
                    return json.loads(body)
                except ValueError as exc:
                    raise VectroError(f"model {self.name!r}: {url} answered with something that is not JSON") from exc
            except urllib.error.HTTPError as exc:
                status, body, wait_for = exc.code, exc.read(), exc.headers.get("Retry-After")
                if status in RETRY_STATUSES and attempt + 1 < attempts:
                    time.sleep(retry_delay(attempt, self.backoff, wait_for or self._suggested_wait(body)))
                    continue
                if status in (401, 403):
                    raise VectroError(f"model {self.name!r}: {self.kind} rejected the API key from "
                                      f"{self.key_env or 'no key'} (HTTP {status}: {error_message(body)})") from None
                tries = f" after {attempts} attempts" if status in RETRY_STATUSES else ""
                raise VectroError(f"model {self.name!r}: {self.kind} answered HTTP {status}{tries}: "
                                  f"{error_message(body)}") from None
            except (TimeoutError, socket.timeout, urllib.error.URLError, ConnectionError) as exc:
                if attempt + 1 < attempts:
                    time.sleep(retry_delay(attempt, self.backoff, None))
                    continue
                reason = getattr(exc, "reason", exc)
                what = (f"timed out after {self.timeout:g} s" if isinstance(reason, (TimeoutError, socket.timeout))
                        else f"cannot be reached ({reason})")
                raise VectroError(f"model {self.name!r}: {url} {what}, {attempts} attempts") from None
        raise AssertionError("unreachable")

    def _suggested_wait(self, body: bytes) -> str | None:
        """A wait the API puts in its error body instead of a Retry-After header (None: use backoff)."""
        return None


class OpenAIProvider(HTTPProvider):
    """OpenAI `POST /v1/embeddings`: {"model", "input": [...]} -> {"data": [{"index", "embedding"}]}.

    The API takes at most 2,048 inputs (and 300,000 tokens) per request; 256 texts a batch keeps
    typical passages well inside both.
    """

    kind, default_url, key_env, max_batch = "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", 2048

    def __init__(self, *args, batch_size: int | None = 256, **kwargs):
        super().__init__(*args, batch_size=batch_size, **kwargs)

    def _embed_batch(self, texts: list[str]):
        payload = {"model": self.model, "input": texts, "encoding_format": "float", **self.options}
        body = self.post(f"{self.url}/embeddings", payload)
        try:
            return [item["embedding"] for item in sorted(body["data"], key=lambda item: item["index"])]
        except (KeyError, TypeError) as exc:
            raise VectroError(f"model {self.name!r}: unexpected OpenAI answer (no data[].embedding)") from exc


class CohereProvider(HTTPProvider):
    """Cohere `POST /v2/embed`: {"model", "texts", "input_type", "embedding_types": ["float"]}
    -> {"embeddings": {"float": [[...]]}}. At most 96 texts per request."""

    kind, default_url, key_env, max_batch = "cohere", "https://api.cohere.com", "CO_API_KEY", 96

    def _embed_batch(self, texts: list[str]):
        payload = {"model": self.model, "texts": texts, "input_type": "search_document",
                   "embedding_types": ["float"], **self.options}
        body = self.post(f"{self.url}/v2/embed", payload)
        try:
            return body["embeddings"]["float"]
        except (KeyError, TypeError) as exc:
            raise VectroError(f"model {self.name!r}: unexpected Cohere answer (no embeddings.float)") from exc


class HuggingFaceProvider(HTTPProvider):
    """Hugging Face Inference feature extraction: `POST {url}/{model}/pipeline/feature-extraction`
    with {"inputs": [...]} -> [[...], ...] (one pooled vector per text for sentence-embedding models).

    The API documents no batch limit; 32 texts a request keeps each well inside its payload cap.
    A model still loading answers 503 with {"estimated_time": s}, which is waited for.
    """

    kind, key_env, max_batch = "huggingface", "HF_TOKEN", 128
    default_url = "https://router.huggingface.co/hf-inference/models"

    def __init__(self, *args, batch_size: int | None = 32, **kwargs):
        super().__init__(*args, batch_size=batch_size, **kwargs)

    def _embed_batch(self, texts: list[str]):
        body = self.post(f"{self.url}/{self.model}/pipeline/feature-extraction", {"inputs": texts, **self.options})
        if isinstance(body, list) and body and isinstance(body[0], list) and body[0] and isinstance(body[0][0], list):
            raise VectroError(f"model {self.name!r}: {self.model} returns one vector per token, not per text; "
                              "use a sentence-embedding model")
        return body

    def _suggested_wait(self, body: bytes) -> str | None:
        try:
            return str(float(json.loads(body)["estimated_time"]))
        except (ValueError, KeyError, TypeError):
            return None


class VectroProvider(HTTPProvider):
    """Another vectro server's `POST {url}/embed`: {"texts", "model"} -> {"embeddings", "model", "dimension"}.

    The key (optional) comes from VECTRO_API_KEY and is sent as a Bearer token.
    """

    kind, key_env, key_required, max_batch = "vectro", "VECTRO_API_KEY", False, 256

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.url:
            raise VectroError(f"model {self.name!r}: a vectro provider needs the server's url")

    def _embed_batch(self, texts: list[str]):
        body = self.post(f"{self.url}/embed", {"texts": texts, "model": self.model})
        try:  # "dimensions" is the seed Vectron's spelling (its /batch-embed answer)
            rows = body["embeddings"]
            dimension = body["dimension"] if "dimension" in body else body["dimensions"]
        except (KeyError, TypeError) as exc:
            raise VectroError(f"model {self.name!r}: unexpected vectro answer (no embeddings/dimension)") from exc
        if dimension != self.dimension:
            raise VectroError(f"model {self.name!r}: the server's model {body.get('model')!r} makes {dimension}-d "
                              f"vectors, but the registry says {self.dimension}")
        return rows
