"""What every CLI command shares: settings, the error boundary and the console."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from rag_fed.errors import RagFedError

__all__ = ["console", "error_console", "reports_errors", "set_offline_defaults"]

console = Console()
error_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def set_offline_defaults() -> None:
    """No model hub is reachable from our machines: fail fast on a hub lookup instead of hanging."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Model-loading progress bars would interleave with our own progress output.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``RagFedError`` into one red line and exit code 1 instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except RagFedError as error:
            # soft_wrap: a long path or command in the message must not be broken up by rich.
            error_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from error

    return wrapper
