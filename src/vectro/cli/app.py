"""The `vectro` command: a thin layer that parses, calls the public API and prints.

Commands live one module per group; importing a module registers its commands on `app`, and the
order of these imports is the order `vectro --help` lists them in.
"""

from . import files, quality, search, train, embed, serve, databases, convert, demo, compat  # noqa: F401,I001  (registration, in listing order)
from ._common import app

__all__ = ["app"]
