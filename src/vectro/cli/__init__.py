"""Command-line entry point: every error prints one line and exits 2, never a traceback or a box."""

from __future__ import annotations

import os
import select
import sys

INTERRUPTED = 130  # the shell's code for Ctrl-C
CLOSED_PIPE = 141  # the shell's code for a program stopped by SIGPIPE, as `cat big | head` leaves cat


def main(argv: list[str] | None = None) -> int:
    import typer

    from ..errors import VectroError
    from .app import app

    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # make_context + invoke instead of command.main(): Click's main would turn Ctrl-C and
        # EOFError into "Aborted." and print usage errors as a multi-line box
        with command.make_context("vectro", args) as ctx:
            command.invoke(ctx)
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted, nothing written", file=sys.stderr)
        return INTERRUPTED
    except typer.TyperException as exc:  # Click's usage errors: unknown option, --k 0, missing --out
        if type(exc).__name__ == "NoArgsIsHelpError":  # `vectro index` alone: show its help
            print(exc.ctx.get_help())
            return 0
        where = getattr(exc, "ctx", None)
        hint = f" (see `{where.command_path} --help`)" if where is not None else ""
        print(f"error: {_one_line(exc.format_message())}{hint}", file=sys.stderr)
        return 2
    except BrokenPipeError as exc:
        if not _stdout_closed():  # a socket to a server, say: a real error
            print(f"error: {_one_line(str(exc))}", file=sys.stderr)
            return 2
        _silence_stdout()  # `vectro search ... | head` read what it wanted and closed the pipe
        return CLOSED_PIPE
    except (VectroError, OSError) as exc:  # OSError: paths the API could not anticipate
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    return 0


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports an error on its write end)."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))
    except (OSError, ValueError, AttributeError):  # no poll (Windows), or stdout is not a file (captured)
        return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit does not fail on the closed pipe again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured in tests)
        pass


def _one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":
    sys.exit(main())
