"""Krita's settings file, kritarc (KConfig's INI): reading and setting one key, every other
line kept as it was. `nst install-host krita` uses it to enable the plug-in the way Krita's
Python Plugin Manager does (`[python]` `enable_nst_krita=true`).
"""

from __future__ import annotations

from pathlib import Path

from .fsutil import user_dir, write_atomic


def default_path() -> Path:
    """Where Krita keeps kritarc for this user (Linux: $XDG_CONFIG_HOME or ~/.config)."""
    return user_dir("XDG_CONFIG_HOME", ".config", mac="Library/Preferences") / "kritarc"


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _group(lines: list[str], group: str) -> tuple[int, int] | None:
    """(header index, end index) of `[group]` in `lines`, or None."""
    start = next((i for i, line in enumerate(lines) if line.strip() == f"[{group}]"), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    return start, end


def _key_at(lines: list[str], span: tuple[int, int] | None, key: str) -> int | None:
    if span is None:
        return None
    return next(
        (i for i in range(span[0] + 1, span[1]) if lines[i].split("=", 1)[0].strip() == key), None
    )


def get(path: Path, group: str, key: str) -> str | None:
    """The value of `key` in `[group]`, or None when it is not set."""
    lines = _lines(path)
    at = _key_at(lines, _group(lines, group), key)
    return None if at is None else lines[at].partition("=")[2].strip()


def put(path: Path, group: str, key: str, value: str | None) -> None:
    """Set `key=value` in `[group]` (None removes the key); the file is written in one step."""
    lines = _lines(path)
    span = _group(lines, group)
    at = _key_at(lines, span, key)
    if value is None:
        if at is None:
            return
        del lines[at]
    elif at is not None:
        lines[at] = f"{key}={value}"
    elif span is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [f"[{group}]", f"{key}={value}"]
    else:
        insert = span[1]
        while insert > span[0] + 1 and not lines[insert - 1].strip():
            insert -= 1
        lines.insert(insert, f"{key}={value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "\n".join(lines) + "\n")
