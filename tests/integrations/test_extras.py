"""Each adapter is an optional extra: a missing package fails with the pip line that installs it."""

import importlib
import subprocess
import sys

import pytest

from vectro.errors import MissingExtraError


@pytest.mark.parametrize("module, package, extra", [("langchain", "langchain_core", "langchain"),
                                                    ("llamaindex", "llama_index.core", "llamaindex"),
                                                    ("haystack", "haystack", "haystack"), ("dspy", "dspy", "dspy")])
def test_missing_framework_names_its_extra(monkeypatch, module, package, extra):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail
    monkeypatch.delitem(sys.modules, f"vectro.integrations.frameworks.{module}", raising=False)
    with pytest.raises(MissingExtraError, match=rf"pip install 'vectro\[{extra}\]'"):
        importlib.import_module(f"vectro.integrations.frameworks.{module}")


def test_missing_backend_for_a_function_names_its_extra(monkeypatch):
    from vectro.integrations.frameworks import hf

    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingExtraError, match=r"vectro\[hf\]"):
        hf.compress_column(None, "embedding")


def test_importing_vectro_imports_no_framework():
    code = ("import sys, vectro, vectro.integrations.frameworks; "
            "print([m for m in ('langchain_core', 'llama_index', 'haystack', 'dspy', 'datasets', 'fsspec', 'pyarrow', 'faiss') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
