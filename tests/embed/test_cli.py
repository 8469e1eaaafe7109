"""`vectro embed`, `vectro models list`, `vectro models bench` from the command line."""

import json

import numpy as np
import pytest

from vectro.cli import main

from .fake_apis import KEY, FakeAPI, fake_vector


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.setenv("VECTRO_API_KEY", KEY)
    monkeypatch.delenv("CO_API_KEY", raising=False)
    with FakeAPI("vectro") as fake:
        path = tmp_path / "models.toml"
        path.write_text(f'[models.fake]\nprovider = "vectro"\nmodel = "m"\ndimension = 8\nurl = "{fake.url}"\n')
        yield fake, path


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_embed_jsonl_to_npy_through_the_cache(served, tmp_path, capsys):
    fake, registry = served
    texts = ["first text", "second text", "first text"]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({"body": t}) + "\n" for t in texts))
    args = ["embed", "--in", tmp_path / "t.jsonl", "--field", "body", "--model", "fake", "--registry", registry,
            "--cache", tmp_path / "cache.sqlite", "--out", tmp_path / "X.npy", "--json"]
    code, text, _ = run(capsys, *args)
    assert code == 0
    summary = json.loads(text)
    assert summary["n"] == 3 and summary["dimension"] == 8 and summary["model"] == "fake"
    np.testing.assert_array_equal(np.load(tmp_path / "X.npy"), np.stack([fake_vector(t, 8) for t in texts]))
    assert run(capsys, *args)[0] == 0
    assert fake.texts_seen == ["first text", "second text"]  # the second run came from the cache


def test_embed_txt_skips_blank_lines(served, tmp_path, capsys):
    fake, registry = served
    (tmp_path / "t.txt").write_text("alpha\n\nbeta\n")
    code, text, _ = run(capsys, "embed", "--in", tmp_path / "t.txt", "-m", "fake", "--registry", registry,
                        "--no-cache", "--out", tmp_path / "X.npy")
    assert code == 0 and "embedded 2 texts with fake (8-d)" in text
    np.testing.assert_array_equal(np.load(tmp_path / "X.npy"), np.stack([fake_vector(t, 8) for t in ["alpha", "beta"]]))


@pytest.mark.parametrize("out, message", [("missing-dir/X.npy", "does not exist"), ("X.csv", "must be a .npy")])
def test_embed_checks_the_output_before_any_work(served, tmp_path, capsys, out, message):
    fake, registry = served
    (tmp_path / "t.txt").write_text("alpha\n")
    code, _, err = run(capsys, "embed", "--in", tmp_path / "t.txt", "-m", "fake", "--registry", registry,
                       "--no-cache", "--out", tmp_path / out)
    assert code == 2 and message in err and err.count("\n") == 1
    assert fake.requests == [] and not (tmp_path / "X.csv").exists()


def test_embed_input_errors_are_one_line(served, tmp_path, capsys):
    _, registry = served
    (tmp_path / "t.jsonl").write_text('{"text": "ok"}\n{"title": "no text"}\n')
    code, _, err = run(capsys, "embed", "--in", tmp_path / "t.jsonl", "-m", "fake", "--registry", registry,
                       "--out", tmp_path / "X.npy")
    assert code == 2 and "line 2: no string field 'text'" in err
    code, _, err = run(capsys, "embed", "--in", tmp_path / "t.csv", "--out", tmp_path / "X.npy")
    assert code == 2 and ".txt (one per line) or .jsonl" in err


def test_models_list_shows_what_can_run(served, capsys):
    _, registry = served
    code, text, _ = run(capsys, "models", "list", "--registry", registry, "--json")
    listing = json.loads(text)
    rows = {row["name"]: row for row in listing["models"]}
    assert code == 0 and listing["default"] == "minilm"
    assert rows["fake"]["ready"] and rows["fake"]["provider"] == "vectro"
    assert not rows["cohere-english"]["ready"] and "CO_API_KEY" in rows["cohere-english"]["missing"]
    code, text, _ = run(capsys, "models", "list", "--registry", registry)
    assert code == 0 and "openai-small" in text and "minilm (default)" in text


def test_models_bench_table_on_the_bundled_sample(served, capsys):
    fake, registry = served
    code, text, _ = run(capsys, "models", "bench", "-m", "fake", "-m", "cohere-english", "-c", "int8",
                        "--registry", registry)
    assert code == 0
    assert "300 passages, 40 queries" in text and "after compression" in text
    assert "CO_API_KEY" in text  # the model that cannot run gets its reason, the others still run
    assert len(fake.texts_seen) == 341  # one warm-up text, then 300 passages and 40 queries
