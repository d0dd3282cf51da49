"""Atomic writing: single files, and whole bundle folders swapped in at the end of a run.

A file is written to a temporary file beside it and renamed over it. A bundle (a study's ``maps/<name>/``
or a scenario's folder) is written into a temporary sibling folder on the same filesystem; when every
file is there, the old folder is renamed aside, the new one renamed in, and the old one removed. A run
that fails, runs out of space or is interrupted leaves the previous bundle byte-identical and removes its
temporary folder. Named sub-folders (``scenarios``, ``optimize``: what-if bundles made against earlier
baselines) are carried into the new bundle as hard links, so the old bundle is not touched until the swap.

A lock file beside the folder (``.<name>.lock``, holding the process id) stops a second run from writing
the same folder at the same time.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

from geoaccess.errors import InputError

# written into every bundle, so a later run knows the folder is one it may replace
BUNDLE_MARK = ".geoaccess-bundle"
# bundles written before the mark existed: these files together say "a geoaccess bundle"
_LEGACY = (("index.html", "counties.csv"), ("compare.html", "compare.csv"), ("picks.csv", "candidates.csv"))
_HELD: dict[Path, int] = {}  # locks this process holds, with their nesting depth


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path in the target's folder; on success it replaces ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes owner-only files; a bundle is for sharing, so give the usual permissions
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)


# -- CSV ------------------------------------------------------------------------------------------------
CSV_ENCODING = "utf-8-sig"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(frame):
    """A copy of ``frame`` whose text cells Excel / WPS would run as a formula start with ``'``.

    Only text cells starting with ``= + - @`` (or a tab / carriage return) that are not plain numbers
    change; number columns are left as they are.
    """
    import pandas as pd

    out = None
    for col in frame.columns:
        if not (frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col].dtype)):
            continue
        s = frame[col]
        bad = s.map(lambda v: isinstance(v, str) and v.startswith(_FORMULA) and not _NUMBER.fullmatch(v))
        if bad.any():
            out = frame.copy() if out is None else out
            out.loc[bad.to_numpy(), col] = "'" + s[bad]
    return frame if out is None else out


# columns that count people or beds: written as integers when every value is a whole number
_COUNT_SUFFIXES = (
    "population",
    "people_beyond",
    "unreachable",
    "beds",
    "nearest_people",
    "assigned_people",
    "capacity",
    "catchment",
    "served",
    "unserved",
    "people",
    "people_gained",
    "people_lost",
)


def is_count_column(col: str) -> bool:
    """Whether a column counts people or beds (by its key's ending, e.g. ``primary_people_beyond``)."""
    return col.endswith(_COUNT_SUFFIXES) or "_reached_" in col


def whole_counts(frame):
    """``frame`` with its count columns as integers where every finite value is whole (values unchanged).

    Columns with missing values become pandas' nullable ``Int64`` (written as an empty cell); a column
    with a fraction or an infinity is left as it is.
    """
    import numpy as np
    import pandas as pd

    out = None
    for col in frame.columns:
        s = frame[col]
        if not (pd.api.types.is_float_dtype(s.dtype) and is_count_column(str(col))):
            continue
        v = s.to_numpy(dtype=float)
        fin = np.isfinite(v)
        if (
            (~fin & ~np.isnan(v)).any()
            or not np.array_equal(v[fin], np.round(v[fin]))
            or (np.abs(v[fin]) >= 2**53).any()
        ):
            continue
        out = frame.copy() if out is None else out
        out[col] = s.astype("Int64") if np.isnan(v).any() else s.astype(np.int64)
    return frame if out is None else out


def write_csv(frame, path: str | Path, **kwargs) -> Path:
    """``frame.to_csv`` atomically for Excel / WPS: no index, :func:`spreadsheet_safe` text, :func:`whole_counts`.

    UTF-8 with a byte-order mark: Excel and WPS on Chinese Windows otherwise read UTF-8 as GBK (pandas and
    every GIS skip the mark).
    """
    kwargs.setdefault("index", False)
    kwargs.setdefault("encoding", CSV_ENCODING)
    with atomic_path(path) as tmp:
        spreadsheet_safe(whole_counts(frame)).to_csv(tmp, **kwargs)
    return Path(path)


# -- bundle folders -------------------------------------------------------------------------------------
def is_bundle(folder: Path) -> bool:
    """Whether ``folder`` was written by geoaccess (and so may be replaced by a run)."""
    folder = Path(folder)
    return (folder / BUNDLE_MARK).exists() or any(all((folder / f).is_file() for f in sig) for sig in _LEGACY)


SUB_BUNDLES = ("scenarios", "optimize")
# what a run's carry-over leaves behind: other runs' temporary folders and locks
_TRANSIENT = shutil.ignore_patterns(".*.new-*", ".*.old-*", ".*.probe-*", ".*.lock")


def check_output_folder(out: str | Path, sub_bundles: tuple[str, ...] = SUB_BUNDLES) -> None:
    """Fail before any computing when ``out`` cannot take a bundle.

    ``out`` must be new, empty (but for the ``sub_bundles`` folders), or a bundle geoaccess wrote (it is
    replaced whole), and its parent must be writable.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("the output path is a file, not a folder; set [study] output to a folder", path=out)
    if out.is_dir() and not is_bundle(out) and any(p.name not in sub_bundles for p in out.iterdir()):
        raise InputError(
            "the output folder holds files geoaccess did not write; a run replaces its output folder as a whole, "
            "so choose a new or empty folder ([study] output)",
            path=out,
        )
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        Path(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent)).rmdir()
    except OSError as exc:
        raise InputError(
            f"cannot write beside the output folder in {parent} ({exc.strerror}); choose a folder you can write to "
            "([study] output)",
            path=out,
        ) from None


@contextlib.contextmanager
def output_lock(out: str | Path):
    """Hold ``.<name>.lock`` beside ``out`` (re-entrant within one process).

    A lock whose process is gone (a killed run) is taken over; a live one is a clear error naming it.
    """
    out = Path(out).resolve()
    if out in _HELD:
        _HELD[out] += 1
        try:
            yield
        finally:
            _HELD[out] -= 1
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = out.parent / f".{out.name}.lock"
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None:
                raise InputError(
                    f"another geoaccess run ({owner}) is writing this output folder; wait for it to finish, "
                    f"or if that process is gone, delete {lock}",
                    path=out,
                ) from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        break
    else:
        raise InputError(f"cannot take the lock {lock}; delete it if no geoaccess run is writing there", path=out)
    _HELD[out] = 1
    try:
        _remove_leftovers(out)
        yield
    finally:
        del _HELD[out]
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _lock_owner(lock: Path) -> str | None:
    """``process <pid> on <host>`` of a live lock, None when its process is gone or the file is unreadable."""
    try:
        pid_text, _, host = lock.read_text(encoding="utf-8").strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if host and host != socket.gethostname():
        return f"process {pid} on {host}"  # cannot tell whether it still runs: assume it does
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it exists, owned by someone else
    return f"process {pid}"


def _remove_leftovers(out: Path) -> None:
    """Temporary and set-aside folders of runs that were killed outright (we hold the lock: none is in use)."""
    for p in out.parent.glob(f".{glob_escape(out.name)}.*-*"):
        if p.is_dir() and re.fullmatch(rf"\.{re.escape(out.name)}\.(new|old|probe)-[\w-]+", p.name):
            shutil.rmtree(p, ignore_errors=True)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


@contextlib.contextmanager
def replace_folder(out: str | Path, keep: tuple[str, ...] = ()):
    """Yield a new temporary sibling of ``out``; when the block ends without error it replaces ``out``.

    On any error or interrupt (also ``KeyboardInterrupt``) ``out`` is left as it was and the temporary
    folder is removed. Sub-folders named in ``keep`` that the new bundle does not write are carried over
    from the old one (hard-linked, so the old bundle is unchanged until the swap).
    """
    out = Path(out).resolve()
    with output_lock(out):
        check_output_folder(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
        try:
            os.chmod(tmp, 0o777 & ~_umask())
            yield tmp
            (tmp / BUNDLE_MARK).write_text("written by geoaccess; a run replaces this folder as a whole\n")
            for name in keep:
                if (out / name).is_dir() and not (tmp / name).exists():
                    shutil.copytree(
                        out / name, tmp / name, copy_function=_link_or_copy, symlinks=True, ignore=_TRANSIENT
                    )
            _swap(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _swap(new: Path, out: Path) -> None:
    if not out.exists():
        os.rename(new, out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
    os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
