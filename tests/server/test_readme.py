"""The README's curl session, run against a real server: every command succeeds and prints what the README shows."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .process import Server

README = Path(__file__).resolve().parents[2] / "README.md"


def session() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each `$ curl` in the README's curl-session block."""
    text = README.read_text()
    block = text.split("<!-- curl-session:start -->")[1].split("<!-- curl-session:end -->")[0]
    lines = [line for line in block.splitlines() if not line.startswith("```")]
    steps: list = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") or command.count("'") % 2:  # a continued line, or an open quote
                i += 1
                command = command[:-1] + " " + lines[i].strip() if command.endswith("\\") else command + "\n" + lines[i]
            steps.append((command, []))
        elif steps:
            steps[-1][1].append(line)
        i += 1
    return [(c, out) for c, out in steps if c.startswith("curl")]


def shown(value, approx: bool):
    """The JSON without `took_ms` (it varies); floats compared to 1e-5 on the README's side."""
    if isinstance(value, dict):
        return {k: shown(v, approx) for k, v in value.items() if k != "took_ms"}
    if isinstance(value, list):
        return [shown(v, approx) for v in value]
    return pytest.approx(value, rel=1e-5) if approx and isinstance(value, float) else value


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_readme_curl_session_runs_as_shown(tmp_path):
    steps = session()
    assert len(steps) >= 5
    verbs = " ".join(c for c, _ in steps)
    for part in ("-X POST localhost:6390/collections ", "-X PUT", "/search", '"filter"', "-X DELETE"):
        assert part in verbs  # create, upsert, search with a filter, get, delete
    server = Server(tmp_path / "d")
    try:
        for command, expected in steps:
            command = re.sub(r"localhost:6390", f"127.0.0.1:{server.port}", command)
            proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, (command, proc.stderr)
            assert shown(json.loads(proc.stdout), False) == shown(json.loads("\n".join(expected)), True), command
    finally:
        server.stop()
