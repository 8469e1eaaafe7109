"""The exceptions vectro raises. Every user-facing problem is a VectroError."""


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
