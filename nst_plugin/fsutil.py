"""Filesystem helpers that keep users' files safe: atomic writes, no-clobber moves, free names,
and the per-user folders files live in.

Every file nst-plugin writes goes through `atomic_file` (or `write_atomic`): it is written
under a hidden temporary name beside its destination and renamed into place, so a crash
never leaves half a file. Nothing here replaces a file unless told to.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def temp_name(dest: Path) -> Path:
    """A fresh hidden name beside `dest`, for writing it in one step."""
    return dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def atomic_file(dest: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file beside `dest` for writing; on success it becomes `dest`.

    With `overwrite=False` an existing `dest` is never replaced (FileExistsError). On any
    error the temporary file is removed and `dest` is left as it was.
    """
    dest = Path(dest)
    tmp = temp_name(dest)
    try:
        with open(tmp, "xb") as fh:
            yield fh
        if overwrite:
            os.replace(tmp, dest)
        else:
            link_into_place(tmp, dest)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # gone already after os.replace


def write_atomic(
    dest: str | os.PathLike[str], data: bytes | str, *, overwrite: bool = True
) -> None:
    """Write `data` (text is UTF-8) to `dest` in one step."""
    with atomic_file(dest, overwrite=overwrite) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def link_into_place(tmp: Path, dest: Path) -> None:
    """Give `tmp` the name `dest` unless `dest` exists (FileExistsError); `tmp` stays too."""
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links (e.g. FAT): check, then rename
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "file exists", str(dest)) from None
        os.replace(tmp, dest)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (not following links)."""
    try:
        return os.path.samestat(os.lstat(a), os.lstat(b))
    except OSError:
        return False


def numbered(path: Path) -> Iterator[Path]:
    """`path`, then the same name with a counter: photo.jpg, photo-2.jpg, photo-3.jpg, ..."""
    yield path
    for n in itertools.count(2):
        yield path.with_name(f"{path.stem}-{n}{path.suffix}")


def move(src: Path, dst: Path) -> None:
    """Move a file to `dst`, raising FileExistsError rather than replacing a file there.

    Hard link, then unlink: an existing `dst` is never replaced, and when `dst` already is
    `src` (a crash between the two steps) the move just completes. Without hard links it
    checks and renames; across file systems it copies to a hidden name beside `dst` first.
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        if not same_file(src, dst):
            raise
    except FileNotFoundError:
        raise
    except OSError as err:
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "file exists", str(dst)) from None
        if err.errno != errno.EXDEV:
            os.rename(src, dst)
            return
        tmp = temp_name(dst)
        try:
            shutil.copyfile(src, tmp, follow_symlinks=False)
            move(tmp, dst)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    os.unlink(src)


def move_free(src: Path, dst: Path) -> Path:
    """Move `src` to `dst`, or to the first free numbered name beside it; return where it went."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for candidate in numbered(dst):
        try:
            move(src, candidate)
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def user_dir(
    variable: str,
    fallback: str,
    *,
    windows: str = "LOCALAPPDATA",
    mac: str = "Library/Application Support",
) -> Path:
    """A per-user folder: `$variable` when it is an absolute path (XDG), else the platform's.

    `fallback` is the XDG default below the home folder (".local/share", ".config", ...).
    """
    value = os.environ.get(variable)
    if value and os.path.isabs(value):
        return Path(value)
    home = Path.home()
    if sys.platform.startswith("win"):
        return Path(os.environ.get(windows) or home / "AppData" / "Local")
    if sys.platform == "darwin":
        return home / mac
    return home / fallback
