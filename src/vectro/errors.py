"""The exceptions vectro raises. Every user-facing problem is a VectroError."""

import contextlib
import warnings


class VectroError(ValueError):
    "Bad input, an unknown codec, or a file vectro cannot use; the message names the problem."


class FormatError(VectroError):
    "A file is not a vectro file, is truncated, corrupt, or of an unsupported version."


class MissingExtraError(VectroError, ImportError):
    "An optional dependency is not installed; the message names the extra that provides it."


def require(module: str, extra: str):
    """Import an optional dependency, or fail with the pip command that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is needed for this; install it with: pip install 'vectro[{extra}]'"
        ) from exc


@contextlib.contextmanager
def advice():
    """Collect the UserWarnings raised inside (a fit's advice, such as pq's k-means on few vectors) into
    the list this yields, one entry per distinct message, for a command to print as notes where they
    read well; warnings of other kinds are shown as usual when the block ends."""
    notes: list[str] = []
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            yield notes
    finally:  # also when the block raises: its notes are kept and the other warnings shown
        notes.extend(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
        for w in caught:
            if not issubclass(w.category, UserWarning):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
