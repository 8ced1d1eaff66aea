"""All-or-nothing output folders.

Every command writes into a temporary sibling (`DIR.partial-XXXXXXXX`) and renames it to `DIR`
only when everything was written. So a crash, a Ctrl-C or bad input never leaves a half-written
folder that looks like a result, and an existing `DIR` (an earlier run) is replaced only by a
complete new one: it is moved aside, the new folder renamed into place, then the old one
deleted. On failure the partial folder is removed and an existing `DIR` is left untouched.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deeptrack_ros.eval.errors import EvalError, where


def _temporary_beside(final: Path) -> Path:
    """A new empty folder `FINAL.partial-*` beside `final` (creating its parent), so the last
    step is a rename within one file system; `final` may be absent or a folder."""
    if final.exists() and not final.is_dir():
        raise EvalError(f'{where(final)}: exists and is not a folder')
    parent = final.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalError(f'{where(parent)}: cannot create output folder ({exc.strerror})') from None
    return Path(tempfile.mkdtemp(prefix=f'{final.name}.partial-', dir=parent))


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder that becomes `final` if the block succeeds."""
    final = Path(final)
    partial = _temporary_beside(final)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _replace(partial, final)


@contextmanager
def staged_path(final: Path) -> Iterator[Path]:
    """Yield a not-yet-existing path (for writers that create their own folder, such as a
    rosbag2 writer) that is renamed to `final` if the block succeeds.

    The path keeps `final`'s name inside a temporary folder, so files named after the folder
    (a bag's `NAME.mcap`) keep matching it after the rename.
    """
    final = Path(final)
    staging = _temporary_beside(final)
    try:
        target = staging / final.name
        yield target
        if not target.exists():
            raise RuntimeError(f'{target} was not written')
        _replace(target, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace(source: Path, final: Path) -> None:
    """Rename `source` to `final`, replacing an existing `final` only once `source` is ready."""
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f'{final.name}.old-', dir=final.absolute().parent))
        old.rmdir()
        final.rename(old)
        try:
            source.rename(final)
        except BaseException:
            old.rename(final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        source.rename(final)
