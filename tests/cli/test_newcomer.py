"""A newcomer's first hour (#22): what a user types, and the one line each mistake gets back."""

import io
import json
import os

import numpy as np
import pytest

import vectro
from vectro.cli import main
from vectro.cli import _common


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(capsys, *args):
    code, _, err = run(capsys, *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err and "Aborted" not in err and "╭" not in err
    return err


@pytest.fixture
def files(files_with_sample):
    vectro.compress(np.load(files_with_sample / "base.npy"), "int8").save(files_with_sample / "ok.vectro")
    index = vectro.Index(384, "int8")
    index.add(np.load(files_with_sample / "base.npy")[:50])
    index.save(files_with_sample / "small.vxi")
    (files_with_sample / "zero.npy").write_bytes(b"")
    (files_with_sample / "text.npy").write_text("0.1 0.2 0.3\n0.4 0.5 0.6\n")
    (files_with_sample / "empty.vectro").write_bytes(b"")
    return files_with_sample


def read_only_dir(tmp_path):
    """A folder no one may write to; as root (who ignores permissions) a read-only system folder."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root
        folder = "/sys"
        if os.access(folder, os.W_OK) and not _cannot_create(folder):
            pytest.skip("no read-only folder available to this user")
    return folder


def _cannot_create(folder):
    try:
        open(os.path.join(folder, ".vectro-probe"), "wb").close()
    except OSError:
        return True
    os.unlink(os.path.join(folder, ".vectro-probe"))
    return False


@pytest.mark.parametrize("command", [
    ["compress", "--in", "{f}", "--out", "{tmp}/x.vectro"],
    ["info", "{f}"],
    ["eval", "--orig", "{f}", "--comp", "{tmp}/ok.vectro"],
    ["search", "--index", "{tmp}/small.vxi", "--queries", "{f}"],
    ["index", "build", "--in", "{f}", "--out", "{tmp}/x.vxi"],
])
@pytest.mark.parametrize("name, message", [("zero.npy", "is empty (0 bytes)"), ("text.npy", "is not a .npy file")])
def test_zero_byte_and_text_npy_get_one_line_naming_the_problem(files, capsys, command, name, message):
    before = sorted(p.name for p in files.iterdir())
    err = one_line_error(capsys, *[a.format(f=files / name, tmp=files) for a in command])
    assert message in err and "allow_pickle" not in err
    assert sorted(p.name for p in files.iterdir()) == before


def test_info_on_empty_vectro_and_on_a_dataset_folder(files, capsys):
    assert "empty.vectro is empty (0 bytes)" in one_line_error(capsys, "info", files / "empty.vectro")
    (files / "junk.vectro").write_bytes(b"not a container at all")
    assert "not a vectro file" in one_line_error(capsys, "info", files / "junk.vectro")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    folder = files / "dataset" / "train"
    folder.mkdir(parents=True)
    base = np.load(files / "base.npy")[:30]
    pq.write_table(pa.table({"text": ["t"] * 30, "embedding": list(base)}), folder / "part-0.parquet")
    code, text, _ = run(capsys, "info", files / "dataset", "--json")
    assert code == 0 and json.loads(text)["n"] == 30 and json.loads(text)["dim"] == 384


def test_conflicting_profile_and_codec_is_an_error(files, capsys):
    err = one_line_error(capsys, "compress", "--in", files / "base.npy", "--out", files / "x.vectro",
                         "--profile", "quality", "--codec", "nf4")
    assert "not both" in err and not (files / "x.vectro").exists()


def test_a_later_release_profile_name_says_what_it_applies(files, capsys):
    code, text, err = run(capsys, "compress", "--in", files / "base.npy", "--out", files / "b.vectro",
                          "--profile", "balanced")
    assert code == 0 and vectro.load(files / "b.vectro").codec.spec == "nf4"
    assert "applies nf4 here" in err and "meant int8" in err and "measured on the public set:" in err
    _, _, err = run(capsys, "compress", "--in", files / "base.npy", "--out", files / "q.vectro", "--profile", "quality")
    assert "note" not in err  # int8 there and here: nothing to say


@pytest.mark.parametrize("command", [
    ["compress", "--in", "{tmp}/base.npy", "--out", "{ro}/x.vectro"],
    ["decompress", "--in", "{tmp}/ok.vectro", "--out", "{ro}/x.npy"],
    ["index", "build", "--in", "{tmp}/base.npy", "--out", "{ro}/x.vxi"],
    ["search", "--index", "{tmp}/small.vxi", "--queries", "{tmp}/queries.npy", "--out", "{ro}/hits.npz"],
    ["train", "--in", "{tmp}/base.npy", "--out", "{ro}/m.npz", "--epochs", "1"],
    ["tune", "--in", "{tmp}/base.npy", "--target", "recall@10=0.9", "--plot", "{ro}/p.png", "-c", "int8"],
])
def test_read_only_output_fails_before_the_work(files, capsys, monkeypatch, tmp_path, command):
    ro = read_only_dir(tmp_path)
    started = []
    for name in ("compress_file", "open_vectors", "load_vectors"):
        original = getattr(vectro, name)
        monkeypatch.setattr(vectro, name, lambda *a, _o=original, **k: started.append(1) or _o(*a, **k))
    err = one_line_error(capsys, *[a.format(tmp=files, ro=ro) for a in command])
    assert "cannot write" in err
    assert started == [], "the input was read before the output was checked"


def test_k_larger_than_n_is_refused_everywhere(files, capsys):
    err = one_line_error(capsys, "search", "--index", files / "small.vxi", "--queries", files / "queries.npy",
                         "--k", "1000000")
    assert "--k 1000000 is larger than the 50 vectors" in err
    err = one_line_error(capsys, "eval", "--orig", files / "base.npy", "--comp", files / "ok.vectro", "--k", "6000")
    assert "k=6000" in err


@pytest.mark.parametrize("args", [["search", "--k", "0"], ["eval", "--k", "0"], ["codecs", "--dim", "0"],
                                  ["compress", "--in", "x.npy"], ["compress", "--nope"]])
def test_usage_errors_are_one_line_not_a_box(capsys, args):
    err = one_line_error(capsys, *args)
    assert "--help" in err


def test_ctrl_c_says_nothing_was_written(files, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(vectro, "compress_file", interrupted)
    code, _, err = run(capsys, "compress", "--in", files / "base.npy", "--out", files / "x.vectro")
    assert code == 130 and err.strip() == "interrupted, nothing written"
    assert not (files / "x.vectro").exists()


def test_float64_input_reports_the_bytes_it_read(files, capsys):
    np.save(files / "b64.npy", np.load(files / "base.npy").astype(np.float64))
    code, text, _ = run(capsys, "compress", "--in", files / "b64.npy", "--out", files / "b64.vectro", "--json")
    summary = json.loads(text)
    assert code == 0 and summary["source_dtype"] == "float64" and summary["original_bytes"] == 5000 * 384 * 8
    code, text, _ = run(capsys, "eval", "--orig", files / "b64.npy", "--comp", files / "b64.vectro", "--json")
    report = json.loads(text)
    assert code == 0 and report["original_bytes"] == 5000 * 384 * 8 and report["original_dtype"] == "float64"


def test_version_and_plain_help(capsys):
    code, text, _ = run(capsys, "--version")
    assert code == 0 and text.strip() == f"vectro {vectro.__version__}"
    from vectro.cli.app import app
    import typer

    def leaves(group, prefix=""):  # every command, inside groups (index, models, keys, ...) too
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from leaves(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", cmd

    for name, cmd in leaves(typer.main.get_command(app)):
        code, text, _ = run(capsys, *name.split(), "--help")
        assert code == 0 and "<bool>" not in text, name
        for param in cmd.params:
            assert param.help, f"`vectro {name}` option {param.opts} has no help"
    _, text, _ = run(capsys, "train", "--help")
    assert "vectro[train]" in text


def test_progress_shows_on_a_terminal_and_not_with_quiet_or_json(files, capsys, monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(_common, "err", _common.Console(file=screen, force_terminal=True, width=100))
    args = ["compress", "--in", files / "base.npy", "--out", files / "p.vectro", "--block-rows", "1000"]
    assert run(capsys, *args)[0] == 0
    assert "compressing" in screen.getvalue() and "5000/5000" in screen.getvalue()
    for flag in ("--quiet", "--json"):
        screen.seek(0)
        screen.truncate()
        assert run(capsys, *args, flag)[0] == 0
        assert screen.getvalue() == ""


def test_a_trainable_codec_shows_its_fit_steps_then_the_encoding(files, capsys, monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(_common, "err", _common.Console(file=screen, force_terminal=True, width=120))
    args = ["compress", "--in", files / "base.npy", "--out", files / "p.vectro", "--codec", "pq:8"]
    assert run(capsys, *args)[0] == 0
    shown = screen.getvalue()
    assert "fitting pq:8" in shown and "8/8" in shown and "steps/s" in shown
    assert "compressing" in shown and "5000/5000" in shown
    assert shown.index("fitting pq:8") < shown.rindex("compressing")


def test_index_build_limit_and_ids_then_search_filter(files, capsys):
    (files / "ids.txt").write_text("\n".join(f"doc-{i}" for i in range(100)))
    code, text, _ = run(capsys, "index", "build", "--in", files / "base.npy", "--out", files / "d.vxi",
                        "--limit", "100", "--ids", files / "ids.txt", "--json")
    summary = json.loads(text)
    assert code == 0 and summary["n"] == 100
    assert summary["loaded_ram_bytes_per_vector"] < summary["build_ram_bytes_per_vector"]
    assert summary["loaded_mapped_bytes_per_vector"] >= 388  # the int8 codes stay in the file
    code, text, _ = run(capsys, "search", "--index", files / "d.vxi", "--queries", files / "queries.npy",
                        "--k", "2", "--filter", "doc-7,doc-42,doc-99", "--json")
    hits = json.loads(text)["ids"]
    base, queries = np.load(files / "base.npy"), np.load(files / "queries.npy")
    allowed = np.array([7, 42, 99])
    scores = queries @ (base[allowed] / np.linalg.norm(base[allowed], axis=1, keepdims=True)).T
    expected = [[f"doc-{allowed[j]}" for j in np.argsort(-row)[:2]] for row in scores]
    assert code == 0 and np.mean([h == e for h, e in zip(hits, expected)]) > 0.95
    text = run(capsys, "index", "build", "--in", files / "base.npy", "--out", files / "e.vxi", "--limit", "100")[1]
    assert "B in RAM while building" in text and "memory-mapped" in text


def test_train_prints_epoch_zero_and_says_when_the_pca_start_was_kept(files, capsys):
    pytest.importorskip("torch")
    code, text, err = run(capsys, "train", "--in", files / "base.npy", "--out", files / "m.npz", "--dim-out", "16",
                          "--epochs", "1", "--max-items", "1000", "--k", "10", "--hard-neg-l", "40", "--lr", "1e-7")
    assert code == 0 and "epoch 0/1 (the PCA start)" in err and "epoch 1/1" in err
    if "(best epoch 0)" in text:
        assert "did not beat its PCA start" in text and "the saved model is the PCA start" in text
    else:
        assert "did not beat" not in text


def test_demo_prints_each_row_as_measured_within_80_columns(capsys, monkeypatch):
    import vectro.demo

    seen = []
    real = vectro.demo.iter_demo

    def watched(codecs, k=10):
        for row in real(codecs, k):
            seen.append(capsys.readouterr().out)  # what was on screen before this row was handed over
            yield row
    monkeypatch.setattr(vectro.demo, "iter_demo", watched)
    code, text, _ = run(capsys, "demo", "-c", "int8", "-c", "trunc:256+int8")
    assert code == 0
    assert "int8 " not in seen[0] and seen[1].splitlines()[-1].startswith("int8 ")  # row 1 shown before row 2 ran
    lines = "".join(seen + [text]).splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert any(line.startswith("trunc:256+int8 ") for line in lines)


def test_demo_gives_what_a_fit_warned_once_after_the_table(capsys):
    """pq:8 learns 256 centroids per sub-space from the 5,000-row sample (9,984 advised): said once, as a
    note (on stderr, as tune's), not mid-table. The warm-up's 256-row fit warned too, about a fit the
    user never asked for."""
    import warnings

    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        code, text, notes = run(capsys, "demo", "-c", "pq:8", "-c", "int8")
    assert code == 0 and not leaked and any(line.startswith("int8 ") for line in text.splitlines())
    assert notes.count("note: ") == 1 and notes.startswith("note: pq:8: learning 256 centroids per sub-space from")
    assert "5,000 vectors" in notes and "from 256 vectors" not in notes + text
    assert all(len(line) <= 80 for line in (text + notes).splitlines())


def test_demo_times_the_fit_apart_from_the_encode(monkeypatch):
    """The demo's encode rate is the fitted codec's: before, rq:8's row read 40,000 vectors/s, its 0.11 s fit
    spread over 5,000 vectors, where its encoder runs at about a million."""
    import time

    import vectro.demo
    from vectro.codecs.product import ProductQuantizer

    real_fit = ProductQuantizer._fit

    def slow_fit(self, *args, **kwargs):
        time.sleep(0.5)
        return real_fit(self, *args, **kwargs)
    monkeypatch.setattr(ProductQuantizer, "_fit", slow_fit)
    pq, int8 = vectro.demo.run_demo(["pq:8", "int8"])
    # the fit's half second is in fit_seconds alone (a compress less an encode, so allow for the encodes' noise)
    assert pq["fit_seconds"] >= 0.4 and 5000 / pq["encode_vectors_per_s"] < 0.4
    assert 0 <= int8["fit_seconds"] < 0.4 and int8["codec"] == "int8"


def test_advice_collects_user_warnings_once_and_shows_the_rest():
    import warnings

    from vectro.errors import advice

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises(ValueError), advice() as notes:
            warnings.warn("pq:8: few vectors")
            warnings.warn("pq:8: few vectors")
            warnings.warn("an old call", DeprecationWarning)
            raise ValueError("the command fails after warning")
    assert notes == ["pq:8: few vectors"] and [str(w.message) for w in shown] == ["an old call"]


def test_a_reader_that_stops_early_is_not_an_error(tmp_path, capsys, rng):
    """`vectro search ... --json | head`: the closed pipe ends the command quietly, with the shell's
    SIGPIPE code, instead of "error: [Errno 32] Broken pipe"."""
    import subprocess
    import sys

    np.save(tmp_path / "b.npy", rng.standard_normal((3000, 16)).astype(np.float32))
    assert run(capsys, "index", "build", "--in", tmp_path / "b.npy", "--out", tmp_path / "b.vxi", "--codec", "int8")[0] == 0
    search = subprocess.Popen([sys.executable, "-m", "vectro", "search", "--index", tmp_path / "b.vxi", "--queries",
                               tmp_path / "b.npy", "--k", "10", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(search.stdout.read(100)) == 100  # the 3,000 queries' answers are far more than a pipe holds
    search.stdout.close()
    assert search.wait(timeout=120) == 141 and search.stderr.read() == b""


def test_a_broken_pipe_elsewhere_is_still_an_error(tmp_path, capsys, monkeypatch):
    """Only a closed stdout is quiet: a broken connection (stdout still open) is reported, exit 2."""
    import sys

    def gone():
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(vectro, "registered_codecs", gone)
    with open(tmp_path / "out.txt", "w") as real:  # an open file, so the poll on stdout really runs
        monkeypatch.setattr(sys, "stdout", real)
        code = main(["codecs"])
    assert code == 2 and capsys.readouterr().err == "error: [Errno 32] Broken pipe\n"


def test_eval_command_peak_memory_stays_bounded_on_a_memory_mapped_input(tmp_path, capsys):
    import tracemalloc

    from tests.conftest import clustered_npy

    clustered_npy(tmp_path / "big.npy", 80_000, 32, chunk=20_000)
    np.save(tmp_path / "small.npy", np.load(tmp_path / "big.npy", mmap_mode="r")[:10_000])
    peaks = {}
    for name in ("small", "big"):
        assert run(capsys, "compress", "--in", tmp_path / f"{name}.npy", "--out", tmp_path / f"{name}.vectro")[0] == 0
        tracemalloc.start()
        code, text, _ = run(capsys, "eval", "--orig", tmp_path / f"{name}.npy", "--comp", tmp_path / f"{name}.vectro",
                            "--json")
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert code == 0 and json.loads(text)["queries"] == 1000  # held-out rows, not all n against all n
    # eight times the rows (80,000 x 32, ten blocks), the same peak within one block of rows
    assert peaks["big"] < peaks["small"] + 8192 * 32 * 4, peaks
