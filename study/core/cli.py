"""What every command line here shares: one error path, and SIGTERM treated as Ctrl-C.

Every foreseeable failure ends in one paragraph and an exit status - 2 for bad input
(``StudyError``), 1 for the environment (``EnvironmentFault``, an ``OSError``, no memory),
3 when every trial of a study failed (``AllTrialsFailed``), 130 when interrupted (Ctrl-C or
SIGTERM) - and a traceback only when ``--debug`` asks.

The options several commands take are declared here once (``add_debug_option``,
``add_selection_options``, ``add_data_options``, ``add_execution_options``), so that each
means, and reads, the same in every command's ``--help``.
"""
from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from study.core.errors import StudyError, os_error_message


def comma_list(text: str) -> list[str]:
    """A comma-separated option (``--models a,b``) as its names, blanks dropped: ``""`` and
    ``" , "`` give ``[]``, which ``check_list`` refuses (they must not mean "all")."""
    return [part.strip() for part in text.split(",") if part.strip()]


DEBUG_HELP = "on an error, also print the Python traceback"
EXECUTORS = ("local", "inline", "ray")


def add_debug_option(parser: argparse.ArgumentParser, also: str = "") -> None:
    """``--debug``: a traceback with the error message (``also``: what else it shows in this command)."""
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP + (f"; {also}" if also else ""))


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    """``--subsets`` and ``--models``: comma lists (``comma_list``); left out, the profile's subsets and every model."""
    parser.add_argument("--subsets", type=comma_list,
                        help="comma-separated, e.g. FD001,FD003 (default: the profile's)")
    parser.add_argument("--models", type=comma_list,
                        help="comma-separated adapter names (default: all; see python -m study.run --list-models)")


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``, ``--offline``, ``--allow-unverified-data``: where the C-MAPSS files come from."""
    parser.add_argument("--data-dir", type=Path, help="folder with the C-MAPSS files or CMAPSSData.zip")
    parser.add_argument("--offline", action="store_true", help="never download; fail if the data is not on disk")
    parser.add_argument("--allow-unverified-data", action="store_true",
                        help="accept files whose SHA-256 differs from NASA's (the checksum is recorded with the "
                             "results)")


def add_execution_options(parser: argparse.ArgumentParser, workers_help: str) -> None:
    """``--executor``, ``--workers``, ``--ray-address``: where the work runs (``workers_help``:
    what one worker does in this command)."""
    parser.add_argument("--executor", default="local", choices=list(EXECUTORS),
                        help="local: worker processes on this machine (default); inline: in this process; "
                             "ray: Ray tasks")
    parser.add_argument("--workers", type=int, default=1, help=workers_help)
    parser.add_argument("--ray-address", help="an existing Ray cluster (default: start a local Ray instance)")


def check_list(option: str, values: Sequence[str] | None) -> None:
    """A list option given on the command line must name something, each thing once (an empty
    list would silently mean "all", a repeated name would run the same work twice)."""
    if values is None:
        return
    if isinstance(values, str) or not len(values):
        raise StudyError(f"{option} is empty; give a comma-separated list of names, or leave the option out "
                         "to use the default.")
    repeated = sorted({v for v in values if list(values).count(v) > 1})
    if repeated:
        raise StudyError(f"{option} names {', '.join(repeated)} more than once; give each name once.")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: workers stopped, finished trials kept, a clean message."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``Terminated`` for the duration (the main thread only)."""

    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_guarded(body: Callable[[], int], console: Console, debug: bool = False) -> int:
    """Run a command's body; every foreseeable failure ends in one paragraph and an exit
    status (2: bad input, 1: the environment, 130: interrupted), a traceback only with --debug."""
    def fail(message: str, code: int) -> int:
        if debug:
            console.print_exception()
        console.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
        return code

    try:
        return body()
    except StudyError as exc:
        return fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        what = "Terminated (SIGTERM)" if isinstance(sys.exc_info()[1], Terminated) else "Interrupted"
        if debug:
            console.print_exception()
        console.print(f"{what}. Finished trials are saved; rerun the same command to resume.")
        return 130
    except BrokenPipeError:  # output piped into a reader that went away (| head)
        return 1
    except OSError as exc:
        return fail(os_error_message(exc, "complete the command") + " Finished trials are saved; rerun the same "
                    "command to resume once the problem is fixed.", 1)
    except MemoryError:
        return fail("Out of memory. Finished trials are saved; run fewer --workers at once, or use a machine "
                    "with more memory.", 1)
    except Exception as exc:  # a bug, not a user error: say so, keep it short, point at --debug
        return fail(f"Unexpected {type(exc).__name__}: {exc}. This is a bug in the harness or a library; rerun "
                    "with --debug for the traceback and report it. Finished trials are saved.", 1)


def main_guarded(body: Callable[[], int], debug: bool = False, console: Console | None = None) -> int:
    """A command's whole body under the shared error path, SIGTERM handled as Ctrl-C; errors
    go to ``console`` (default: stderr, wide enough that piped messages are not cut). Output
    redirected to a log is written line by line, so a long run's log shows where it is."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if not stream.isatty():
                stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError, OSError):
            pass  # a stream that is not a plain text file (a test's capture): leave it as it is
    with sigterm_as_interrupt():
        return run_guarded(body, console or Console(stderr=True, width=200), debug)
