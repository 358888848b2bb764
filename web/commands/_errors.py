"""Turn domain exceptions into one-line CLI errors with a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def cli_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Report the given exception types as clean CLI errors (exit 2)."""
    try:
        yield
    except kinds as exc:
        fail(str(exc))


def echo_json_lines(rows: list[dict], dumps: Callable[[dict], str]) -> None:
    for row in rows:
        sys.stdout.write(dumps(row) + "\n")
