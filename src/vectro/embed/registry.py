"""The model registry: TOML files naming models, their provider, dimension and options.

The built-in file (`models.toml` beside this module) has the local MiniLM and the seed's remote
models. A user file (path given, or in $VECTRO_MODELS) adds models or replaces built-in ones by
name and may change `default`. `provider_for(spec)` builds the provider, once per spec per process
(a local model is loaded once).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path

from ..errors import VectroError
from .base import Provider

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_VAR = "VECTRO_MODELS"
_SETTINGS = ("model", "url", "api_key_env", "batch_size", "timeout", "max_retries", "backoff", "options")
_KEYS = {"provider", "dimension", "description", "package", "path", *_SETTINGS}


def _provider_classes() -> dict[str, type[Provider]]:
    from .local import SentenceTransformerProvider
    from .remote import CohereProvider, HuggingFaceProvider, OpenAIProvider, VectroProvider

    return {cls.kind: cls for cls in (SentenceTransformerProvider, OpenAIProvider, CohereProvider,
                                      HuggingFaceProvider, VectroProvider)}


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry: `name` embeds with `provider` into `dimension`-d vectors."""

    name: str
    provider: str
    dimension: int
    description: str = ""
    package: str | None = None
    path: str | None = None
    settings: dict = field(default_factory=dict)  # the provider's keyword arguments (model, url, ...)

    @property
    def key(self) -> str:
        """What identifies the vectors this spec makes (the embedding cache's model key)."""
        return json.dumps({"provider": self.provider, "dimension": self.dimension, "package": self.package,
                           "path": self.path, "model": self.settings.get("model"),
                           "url": self.settings.get("url"), "options": self.settings.get("options")},
                          sort_keys=True)

    def describe(self) -> str:
        """The model behind the name: package, folder, or the API's model id."""
        if self.provider == "sentence-transformers":
            return f"package {self.package}" if self.package else f"path {self.path}"
        return str(self.settings.get("model"))


def _spec(name: str, entry, source: str) -> ModelSpec:
    if not isinstance(entry, dict):
        raise VectroError(f"{source}: [models.{name}] must be a table")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise VectroError(f"{source}: [models.{name}] has unknown key(s) {unknown}; known: {sorted(_KEYS)}")
    kinds = _provider_classes()
    provider = entry.get("provider")
    if provider not in kinds:
        raise VectroError(f"{source}: [models.{name}] provider {provider!r} is unknown; use one of {sorted(kinds)}")
    dimension = entry.get("dimension")
    if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension < 1:
        raise VectroError(f"{source}: [models.{name}] needs dimension, a positive integer (got {dimension!r})")
    if provider == "sentence-transformers" and ("package" in entry) == ("path" in entry):
        raise VectroError(f"{source}: [models.{name}] needs exactly one of package and path")
    if provider != "sentence-transformers" and "model" not in entry and provider != "vectro":
        raise VectroError(f"{source}: [models.{name}] needs model, the {provider} model id")
    return ModelSpec(name=name, provider=provider, dimension=dimension, description=entry.get("description", ""),
                     package=entry.get("package"), path=entry.get("path"),
                     settings={k: entry[k] for k in _SETTINGS if k in entry})


def _read(path, source: str) -> dict:
    try:
        text = path.read_text() if hasattr(path, "read_text") else Path(path).read_text()
        data = tomllib.loads(text)
    except FileNotFoundError as exc:
        raise VectroError(f"model registry {source} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise VectroError(f"model registry {source} is not valid TOML: {exc}") from exc
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise VectroError(f"model registry {source}: [models] must be a table of tables")
    return data


class Registry:
    """The models by name, and the default one."""

    def __init__(self, specs: dict[str, ModelSpec], default: str):
        if default not in specs:
            raise VectroError(f"the registry's default model {default!r} is not one of its models {sorted(specs)}")
        self.specs, self.default = specs, default

    def __iter__(self):
        return iter(self.specs.values())

    def get(self, name: str | None = None) -> ModelSpec:
        """The spec named `name` (None: the default), or a VectroError listing the known names."""
        name = self.default if name is None else name
        if name not in self.specs:
            raise VectroError(f"unknown embedding model {name!r}; known: {', '.join(sorted(self.specs))} "
                              f"(add models in a registry file, see `vectro models list`)")
        return self.specs[name]


def load_registry(path=None) -> Registry:
    """The built-in registry, plus the user file at `path` (default: $VECTRO_MODELS, if set)."""
    data = _read(files(__package__) / "models.toml", "built-in models.toml")
    specs = {name: _spec(name, entry, "built-in models.toml") for name, entry in data["models"].items()}
    default = data["default"]
    path = path if path is not None else os.environ.get(ENV_VAR) or None
    if path is not None:
        user = _read(Path(path), str(path))
        specs.update({name: _spec(name, entry, str(path)) for name, entry in user.get("models", {}).items()})
        default = user.get("default", default)
    return Registry(specs, default)


_PROVIDERS: dict[str, Provider] = {}
_LOCK = threading.Lock()


def provider_for(spec: ModelSpec) -> Provider:
    """The provider for a spec, built once per process for each distinct spec."""
    key = json.dumps(asdict(spec), sort_keys=True, default=str)
    with _LOCK:
        if key not in _PROVIDERS:
            cls = _provider_classes()[spec.provider]
            if spec.provider == "sentence-transformers":
                batch = {"batch_size": spec.settings["batch_size"]} if "batch_size" in spec.settings else {}
                _PROVIDERS[key] = cls(spec.name, spec.dimension, package=spec.package, path=spec.path, **batch)
            else:
                _PROVIDERS[key] = cls(spec.name, spec.dimension, **spec.settings)
        return _PROVIDERS[key]
