"""The README's "Coming from Vectro" examples run as written, commands and Python alike."""

import re
import shlex
from pathlib import Path

import numpy as np

import vectro
from vectro.cli import main

README = Path(__file__).parents[1] / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    return text[start : text.index("\n## ", start + 1)]


def test_coming_from_vectro_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    np.save("embeddings.npy", vectro.sample_data()[0])
    blocks = re.findall(r"```(console|python)\n(.*?)```", section("Coming from Vectro"), re.S)
    assert len(blocks) >= 5
    ran = []
    for kind, body in blocks:
        if kind == "console":
            for line in body.splitlines():
                command = shlex.split(line.split("  #")[0].removeprefix("$ "))
                assert command[0] == "vectro"
                assert main(command[1:]) == 0, (line, capsys.readouterr().err)
                ran.append(command[1])
        else:
            namespace = {}
            exec(compile(body, "README", "exec"), namespace)  # noqa: S102 (our own README)
            ran.append(namespace)
    commands = [r for r in ran if isinstance(r, str)]
    assert commands == ["compress", "eval", "bench", "inspect", "validate", "upgrade", "benchmark"]
    seed, roundtrip, aliases = [r for r in ran if isinstance(r, dict)]
    X = np.load("embeddings.npy")
    assert vectro.mean_cosine_similarity(X, seed["recon"]) > 0.9999
    np.testing.assert_array_equal(roundtrip["recon"], vectro.reconstruct_embeddings(vectro.quantize_embeddings(X)))
    assert aliases["packed"].codec.spec == "nf4" and aliases["bits"].shape == (5000, 48)
    np.testing.assert_array_equal(vectro.load("x2.vectro").decompress(), vectro.load("compressed.npz").decompress())


def test_the_command_line_transcript_shows_what_the_commands_print(tmp_path, monkeypatch, capsys):
    """The output under the first commands of "The command line" is what they print on the bundled
    sample; `…` stands for a timing."""
    monkeypatch.chdir(tmp_path)
    base, queries = vectro.sample_data()
    np.save("embeddings.npy", base)
    np.save("queries.npy", queries)
    lines = re.search(r"```console\n(.*?)```", section("The command line"), re.S).group(1).splitlines()
    lines = lines[: lines.index("...")]  # the transcript ends at the first "..."
    checked = 0
    for start, command in enumerate(lines):
        if not command.startswith("$ "):
            continue
        shown = []
        for line in lines[start + 1 :]:
            if line.startswith("$ "):
                break
            if "(on a terminal" not in line:  # the progress bar, drawn only on a terminal
                shown.append(line)
        assert main(shlex.split(command[2:])[1:]) == 0, command
        captured = capsys.readouterr()
        # the kernel warm-up note shows only where numba compiles (a machine without the C kernels)
        printed = [re.sub(r"; kernel warm-up [0-9.]+ s apart", "", line.rstrip())
                   for line in (captured.out + captured.err).splitlines()]
        for line in shown:
            pattern = re.escape(line).replace("…", r"[0-9.]+")
            assert any(re.fullmatch(pattern, p) for p in printed), (line, printed)
            checked += 1
    assert checked >= 9  # the compress line and the eval report
