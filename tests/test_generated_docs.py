"""Every section a benchmark script writes has its markers in README.md or docs/benchmarks.md, once."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CALL = re.compile(r'write_section\("([a-z-]+)",[^\n]*?(README)?\)\n')


def _sections():
    found = []
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        for name, readme in CALL.findall(script.read_text()):
            found.append((script.name, name, "README.md" if readme else "docs/benchmarks.md"))
    return found


def test_the_scripts_write_the_readme_tables():
    written = {(name, doc) for _, name, doc in _sections()}
    assert {("codecs", "README.md"), ("frontier", "README.md"), ("profiles", "README.md"),
            ("speed", "README.md"), ("targets-speed", "docs/benchmarks.md"),
            ("targets-quality", "docs/benchmarks.md"), ("targets-search", "docs/benchmarks.md")} <= written


@pytest.mark.parametrize("script, name, doc", _sections())
def test_generated_section_has_one_pair_of_markers(script, name, doc):
    text = (ROOT / doc).read_text()
    begin, end = f"<!-- BEGIN: {name} -->", f"<!-- END: {name} -->"
    assert text.count(begin) == 1 and text.count(end) == 1, f"{script} writes {name!r} into {doc}"
    assert text.index(begin) < text.index(end)
