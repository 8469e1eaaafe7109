"""The tuner and the profiles: picks that meet the target, the Pareto flags, the plot, the CLI."""

import json

import numpy as np
import pytest

import vectro
from vectro.cli import main
from vectro.codecs.profiles import PROFILES
from vectro.errors import VectroError
from vectro.metrics.tune import default_candidates, parse_target

CANDIDATES = ["int8", "nf4", "rq:2", "binary", "pq:48x4", "pca:96+int8"]


@pytest.fixture(scope="module")
def result(sample):
    base, queries = sample
    return vectro.tune(base, queries[:100], target="recall@10=0.9", codecs=CANDIDATES, sample=len(base))


def _float64_recall(base, decoded, queries, k=10):
    """Independent reference: recall@k of cosine ranking over `decoded` against the float64 exact top-k."""
    def top(X):
        X = np.asarray(X, np.float64)
        S = np.asarray(queries, np.float64) @ (X / np.linalg.norm(X, axis=1, keepdims=True)).T
        return np.argsort(-S, axis=1, kind="stable")[:, :k]

    return np.mean([len(set(f) & set(t)) / k for f, t in zip(top(decoded), top(base))])


def test_chosen_meets_the_target_and_no_smaller_candidate_does(result, sample):
    base, queries = sample
    held_out, unseen = queries[:100], queries[100:]
    codecs = {spec: vectro.compress(base, spec) for spec in CANDIDATES}  # the tuner's fit: all rows, seed 0
    measured = {spec: _float64_recall(base, packed.decompress(), held_out) for spec, packed in codecs.items()}
    for row in result.rows:
        assert row["recall@10"] == pytest.approx(measured[row["codec"]], abs=0.003), row["codec"]
    chosen = result.row(result.chosen)
    assert measured[result.chosen] >= 0.9
    smaller = [r["codec"] for r in result.rows if r["total_bytes_per_vector"] < chosen["total_bytes_per_vector"]]
    assert smaller and all(measured[spec] < 0.9 for spec in smaller)
    # the pick holds on queries the tuner never saw (a margin for 100 queries' sampling noise)
    assert _float64_recall(base, codecs[result.chosen].decompress(), unseen) >= 0.9 - 0.02


def test_rows_are_sorted_by_size_and_the_frontier_only_rises(result):
    sizes = [r["total_bytes_per_vector"] for r in result.rows]
    assert sizes == sorted(sizes)
    frontier = [r["recall@10"] for r in result.rows if r["pareto"]]
    assert frontier == sorted(frontier) and len(set(frontier)) == len(frontier)
    assert result.row("int8")["pareto"]


def test_sizes_include_the_codec_state(result):
    pq = result.row("pq:48x4")
    assert pq["bytes_per_vector"] == 24
    assert pq["state_bytes"] == 96 * 16 * 4 * 4  # 96 sub-quantisers x 16 centroids x 4 dims x float32
    assert pq["total_bytes_per_vector"] == pytest.approx(24 + pq["state_bytes"] / 5000)  # spread over n


def test_byte_budget_picks_the_best_codec_within_it(sample):
    base, queries = sample
    result = vectro.tune(base, queries[:100], max_bytes=120, codecs=CANDIDATES, sample=3000)
    within = [r for r in result.rows if r["total_bytes_per_vector"] <= 120]
    assert result.chosen == max(within, key=lambda r: r["recall@10"])["codec"]


def test_byte_budget_weighs_opq_against_pq_at_the_same_size(sample):
    """With opq among the candidates, the budget's pick is the measured best: opq:16 over pq:16 once its
    rotation is spread over a large store, pq:16 while the rotation's 0.6 MB dominates 5,000 vectors
    (both measured on a 3,000-row sample)."""
    base, queries = sample
    large = vectro.tune(base, queries[:100], max_bytes=20, codecs=["pq:16", "opq:16", "binary"], n_total=10**8,
                        sample=3000)
    assert large.row("opq:16")["recall@10"] > large.row("pq:16")["recall@10"] and large.chosen == "opq:16"
    small = vectro.tune(base, queries[:100], max_bytes=100, codecs=["pq:16", "opq:16"], sample=3000)
    assert small.row("opq:16")["total_bytes_per_vector"] > 100 and small.chosen == "pq:16"


def test_shortlist_measures_after_rescoring(sample):
    base, queries = sample
    result = vectro.tune(base, queries[:100], target="recall@10=0.95", shortlist=100, codecs=["binary", "int8"], sample=3000)
    assert result.quality_key == "recall@10_rescored"
    binary = result.row("binary")
    assert binary["recall@10_rescored"] > binary["recall@10"]
    assert result.chosen == "binary"


def test_held_out_queries_are_not_in_the_corpus(sample):
    base, _ = sample
    result = vectro.tune(base, target="ndcg@5=0.5", codecs=["int8"], n_queries=50, sample=1000)
    assert result.queries == 50 and result.corpus == 1000 and result.k == 5


def test_plot_writes_a_png(result, tmp_path):
    result.plot(tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("target", ["recall=0.9", "recall@10=1.5", "speed@10=0.9", ""])
def test_bad_targets_are_refused(target):
    with pytest.raises(VectroError, match="target"):
        parse_target(target)


def test_target_or_budget_is_required(sample):
    base, _ = sample
    with pytest.raises(VectroError, match="target"):
        vectro.tune(base)
    with pytest.raises(VectroError, match="not both"):
        vectro.tune(base, target="recall@10=0.9", max_bytes=10)


def test_default_candidates_fit_the_dimension():
    assert "pq:48" in default_candidates(384) and "pq:96x4" in default_candidates(384)
    assert {"opq:16", "opq:32", "opq:48", "rvq:16", "rvq:32", "tc:1", "tc:2", "tc:4", "tc:8"} <= set(default_candidates(384))
    assert {"rvq:16", "rvq:32"} <= set(default_candidates(100))
    assert "rvq:16" in default_candidates(8) and "rvq:32" not in default_candidates(8)  # 32 B: float32's size at d=8
    assert not any(spec.startswith(("pq:48", "opq:48")) for spec in default_candidates(100))


def test_cli_tune_prints_json_and_writes_the_plot(files_with_sample, capsys, tmp_path):
    code = main(["tune", "--in", str(files_with_sample / "base.npy"), "--target", "recall@10=0.9", "--sample", "2000",
                 "--n-queries", "50", "-c", "int8", "-c", "binary", "--plot", str(tmp_path / "p.png"), "--json"])
    report = json.loads(capsys.readouterr().out)
    meeting = [r for r in report["rows"] if r["recall@10"] >= 0.9]
    assert code == 0 and (tmp_path / "p.png").exists()
    assert report["chosen"] == min(meeting, key=lambda r: r["total_bytes_per_vector"])["codec"]
    assert main(["tune", "--in", str(files_with_sample / "base.npy"), "--target", "recall@x=1"]) == 2
    assert "cannot parse target" in capsys.readouterr().err


def test_cli_tune_gives_what_a_fit_warned_as_a_note(files_with_sample, capsys):
    """pq:8's k-means on 2,000 sample rows (9,984 advised) is said once, as a note, not as a raw warning."""
    import warnings

    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        code = main(["tune", "--in", str(files_with_sample / "base.npy"), "--max-bytes", "400", "--sample", "2000",
                     "--n-queries", "50", "-c", "pq:8", "-c", "int8", "--json"])
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert code == 0 and not leaked
    assert [n for n in notes if "centroids" in n] == [
        "pq:8: learning 256 centroids per sub-space from 2,000 vectors; k-means is advised at least 9,984 "
        "(39 per centroid), so the codebooks may be weak"]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_profiles_apply_exactly_the_codec_they_name(sample, tmp_path, capsys, profile):
    np.save(tmp_path / "base.npy", sample[0][:1000])  # enough rows for every profile's fit
    out = tmp_path / f"{profile}.vectro"
    code = main(["compress", "--in", str(tmp_path / "base.npy"), "--out", str(out), "--profile", profile, "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["codec"] == PROFILES[profile].codec == vectro.load(out).codec.spec


def test_a_profile_that_meant_another_codec_in_later_releases_prints_what_it_measured(files_with_sample, capsys,
                                                                                     monkeypatch, tmp_path):
    from vectro.codecs import profiles

    record = {"command": "python benchmarks/quality.py", "profiles": {"fast": {
        "codec": "binary", "recall@10": 0.7504, "ndcg@10": 0.81, "recall@10_rescored_100": 0.9961, "bytes": 48,
        "ratio": 32.0}}}
    (tmp_path / "m.json").write_text(json.dumps(record))
    monkeypatch.setattr(profiles, "MEASURED", tmp_path / "m.json")
    profiles._measurements.cache_clear()
    args = ["compress", "--in", str(files_with_sample / "base.npy"), "--out", str(tmp_path / "f.vectro")]
    try:
        assert main([*args, "--profile", "fast"]) == 0
        note = capsys.readouterr().err
        assert "profile 'fast' applies binary here" in note and "int8" in note
        assert "recall@10 0.750 alone, 0.996 after re-scoring 100 candidates" in note and "48 B/vector (32.0x)" in note
        assert main([*args, "--profile", "balanced"]) == 0  # no record for it: said, not made up
        assert "not measured for this codec yet" in capsys.readouterr().err
    finally:
        profiles._measurements.cache_clear()


def test_unknown_profile_exits_2(files_with_sample, capsys):
    assert main(["compress", "--in", str(files_with_sample / "base.npy"), "--out", str(files_with_sample / "x.vectro"),
                 "--profile", "ultra"]) == 2
    assert "unknown profile 'ultra'" in capsys.readouterr().err
    assert not (files_with_sample / "x.vectro").exists()


@pytest.mark.parametrize("profile, floor", [("quality", 0.99), ("balanced", 0.95)])
def test_profile_quality_holds_on_the_sample(sample, profile, floor):
    base, queries = sample
    report = vectro.evaluate(base, vectro.compress(base, PROFILES[profile].codec), queries=queries)
    assert report["recall@10"] >= floor - 0.01
