"""`make bench` without the public data says how to point at it and runs on the bundled sample."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_bench_falls_back_to_the_bundled_sample(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "calls.txt"
    (fake / "vectro").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")  # records what make would run
    (fake / "vectro").chmod(0o755)
    result = subprocess.run(["make", "-s", "-o", "install", "bench", f"BIN={fake}",
                             f"PUBLIC_DATA={tmp_path / 'missing'}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"public data not found at {tmp_path / 'missing'}" in result.stdout
    assert "make bench PUBLIC_DATA=" in result.stdout and "VECTRO_PUBLIC_DATA" in result.stdout
    assert log.read_text().splitlines() == ["demo", "bench speed --n 100000 --d 384"]
