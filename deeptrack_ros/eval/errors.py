"""The error type for bad input to the evaluation tools.

Bad input (a missing folder, an unreadable frame, a malformed ground-truth line, a bag without
the requested topic, an init box outside the image) is the user's to fix, not a bug: the command
line prints the message as a single line and exits with status 2 instead of a traceback. The
message must therefore name the file (and line) it is about.
"""

from __future__ import annotations

from pathlib import Path


class EvalError(Exception):
    """Bad input to an evaluation command; `str()` is the one-line message shown to the user."""


def where(path: Path | str, line: int | None = None) -> str:
    """Format `file` or `file:line` the way compilers do, so editors can jump to it."""
    return f'{path}:{line}' if line is not None else str(path)
