"""Every remote provider against a local stand-in of its API: success, batching, retries, timeout, keys."""

import time

import numpy as np
import pytest

import vectro
from vectro.embed.registry import load_registry
from vectro.embed.remote import CohereProvider, HuggingFaceProvider, OpenAIProvider, VectroProvider, retry_delay
from vectro.errors import VectroError

from .fake_apis import KEY, LIMITS, FakeAPI, fake_vector

PROVIDERS = {"openai": OpenAIProvider, "cohere": CohereProvider, "huggingface": HuggingFaceProvider,
             "vectro": VectroProvider}
KEY_ENV = {"openai": "OPENAI_API_KEY", "cohere": "CO_API_KEY", "huggingface": "HF_TOKEN", "vectro": "VECTRO_API_KEY"}
KINDS = sorted(PROVIDERS)
TEXTS = ["open and possibly create a file", "close a file descriptor", "map files into memory",
         "get file status", "open and possibly create a file"]


@pytest.fixture(params=KINDS)
def api(request, monkeypatch):
    monkeypatch.setenv(KEY_ENV[request.param], KEY)
    with FakeAPI(request.param) as fake:
        yield fake


def make(api, **settings):
    settings.setdefault("backoff", 0.01)
    return PROVIDERS[api.kind](f"test-{api.kind}", api.dim, model=api.model, url=api.url, **settings)


def expected(texts, dim=8):
    return np.stack([fake_vector(t, dim) for t in texts])


def test_success_returns_the_apis_vectors_in_order(api):
    X = make(api).embed(TEXTS)
    assert X.dtype == np.float32 and X.shape == (5, 8)
    np.testing.assert_array_equal(X, expected(TEXTS))
    assert len(api.requests) == 1 and api.requests[0]["auth"] == f"Bearer {KEY}"


def test_batches_stay_within_the_batch_size_and_keep_order(api):
    texts = [f"passage number {i}" for i in range(23)]
    X = make(api, batch_size=5).embed(texts)
    np.testing.assert_array_equal(X, expected(texts))
    sizes = [len(r["body"].get("input", r["body"].get("inputs", r["body"].get("texts")))) for r in api.requests]
    assert sizes == [5, 5, 5, 5, 3]


def test_default_batches_respect_the_apis_documented_limit(api):
    provider = make(api)
    assert provider.batch_size <= LIMITS[api.kind] == provider.max_batch
    with pytest.raises(VectroError, match="batch_size must be"):
        make(api, batch_size=LIMITS[api.kind] + 1)
    texts = [f"t{i}" for i in range(provider.batch_size + 1)]
    np.testing.assert_array_equal(provider.embed(texts), expected(texts))
    assert len(api.requests) == 2


def test_retries_on_429_honouring_retry_after(api):
    api.fail(429, times=2, retry_after="0.3")
    started = time.perf_counter()
    X = make(api).embed(TEXTS[:2])
    assert time.perf_counter() - started >= 0.6  # two waits of the server's 0.3 s, not 0.01 s backoff
    np.testing.assert_array_equal(X, expected(TEXTS[:2]))
    assert len(api.requests) == 3


def test_retries_on_5xx_then_gives_up_with_the_apis_message(api):
    api.fail(503, times=1)
    np.testing.assert_array_equal(make(api).embed(["a"]), expected(["a"]))
    api.requests.clear()
    api.fail(500, times=3)
    with pytest.raises(VectroError, match=r"HTTP 500 after 3 attempts: server error"):
        make(api, max_retries=2).embed(["a"])
    assert len(api.requests) == 3


def test_timeout_is_retried_then_reported(api):
    api.stall(1.0, times=1)
    np.testing.assert_array_equal(make(api, timeout=0.3).embed(["slow"]), expected(["slow"]))
    api.stall(1.0, times=2)
    with pytest.raises(VectroError, match=r"timed out after 0.3 s, 2 attempts"):
        make(api, timeout=0.3, max_retries=1).embed(["slow"])


def test_bad_key_fails_at_once_naming_the_variable(api, monkeypatch):
    monkeypatch.setenv(KEY_ENV[api.kind], "wrong")
    with pytest.raises(VectroError, match=rf"rejected the API key from {KEY_ENV[api.kind]} \(HTTP 401"):
        make(api).embed(["a"])
    assert len(api.requests) == 1  # a rejected key is not retried


@pytest.mark.parametrize("kind", ["openai", "cohere", "huggingface"])
def test_missing_key_fails_before_any_request(kind, monkeypatch):
    monkeypatch.delenv(KEY_ENV[kind], raising=False)
    with FakeAPI(kind) as fake:
        with pytest.raises(VectroError, match=f"needs an API key in the environment variable {KEY_ENV[kind]}"):
            make(fake).embed(["a"])
        assert fake.requests == []


def test_vectro_provider_needs_no_key_when_the_server_wants_none(monkeypatch):
    monkeypatch.delenv("VECTRO_API_KEY", raising=False)
    with FakeAPI("vectro", key=None) as fake:
        np.testing.assert_array_equal(make(fake).embed(["a", "b"]), expected(["a", "b"]))
        assert fake.requests[0]["auth"] is None and fake.requests[0]["body"] == {"texts": ["a", "b"], "model": "test-model"}


def test_dimension_is_checked_against_the_registry(api):
    api.answer_dim = 6
    with pytest.raises(VectroError, match=r"6-d|makes 6-d"):
        make(api).embed(["a"])


def test_unreachable_server_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeAPI("openai") as fake:
        url = fake.url
    provider = OpenAIProvider("gone", 8, model="m", url=url, max_retries=1, backoff=0.01)
    with pytest.raises(VectroError, match="cannot be reached"):
        provider.embed(["a"])


def test_retry_delay_backs_off_exponentially_and_reads_retry_after():
    assert [retry_delay(a, 0.5, None) for a in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert retry_delay(0, 0.5, "7") == 7.0
    assert retry_delay(3, 0.5, "100000") == 60.0  # capped
    assert retry_delay(0, 0.5, "Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: go now


def test_huggingface_waits_for_a_loading_model(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", KEY)
    with FakeAPI("huggingface") as fake:
        fake.fail(503, body={"error": "Model test-model is currently loading", "estimated_time": 0.4})
        started = time.perf_counter()
        np.testing.assert_array_equal(make(fake).embed(["a"]), expected(["a"]))
        assert time.perf_counter() - started >= 0.4


def test_registry_models_reach_the_api_through_vectro_embed(tmp_path, monkeypatch):
    monkeypatch.setenv("CO_API_KEY", KEY)
    with FakeAPI("cohere", dim=8) as fake:
        path = tmp_path / "models.toml"
        path.write_text(f'[models.fake-cohere]\nprovider = "cohere"\nmodel = "test-model"\ndimension = 8\n'
                        f'url = "{fake.url}"\nbatch_size = 2\noptions = {{input_type = "search_query"}}\n')
        X = vectro.embed("fake-cohere", TEXTS, registry=str(path))
        np.testing.assert_array_equal(X, expected(TEXTS))
        assert fake.texts_seen == TEXTS[:4]  # the repeated text is embedded once, 2 per request
        assert fake.requests[0]["body"]["input_type"] == "search_query"
        assert load_registry(path).get("fake-cohere").dimension == 8


def test_vectro_provider_reads_the_seeds_batch_answer_spelling(monkeypatch):
    monkeypatch.setenv("VECTRO_API_KEY", KEY)
    with FakeAPI("vectro") as fake:
        seed_shape = {"embeddings": expected(["a"]).tolist(), "dimensions": 8, "count": 1, "processing_time_ms": 1.0}
        fake.fail(200, body=seed_shape)
        np.testing.assert_array_equal(make(fake).embed(["a"]), expected(["a"]))
