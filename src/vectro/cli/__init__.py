"""Command-line entry point: user errors print one line and exit 2, never a traceback."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from ..errors import VectroError
    from .app import app

    try:
        app(args=argv, prog_name="vectro")  # usage errors exit 2 inside, with Typer's message
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (VectroError, OSError) as exc:  # OSError: paths the API could not anticipate
        print(f"error: {exc}", file=sys.stderr)  # one line, never wrapped
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
