"""Installing the editor plug-ins: `nst install-host krita|gimp`, `nst uninstall-host ...`.

Each plug-in is copied from the plug-in sources (hosts/ in the repository; packaged as
nst_plugin/hosts_data in a wheel; `$NST_HOSTS_DIR` overrides both) into the editor's user
folder, together with a copy of the host kit (nst_plugin/hostkit/: the service client and the
logic both plug-ins share) and `nst-host.json`, which tells the plug-in where this
installation's `nst` command is. A manifest beside them lists what was
installed, so uninstalling removes exactly those files and nothing of the user's. For Krita,
`install` can also enable the plug-in in kritarc, noting the value it replaced, which
`uninstall` puts back.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .fsutil import write_atomic

MANIFEST = ".nst-install.json"
ENABLED = ".nst-enabled.json"  # the kritarc entry install set, and the value it had before
HOST_CONFIG = "nst-host.json"
HOSTKIT = Path(__file__).resolve().parent / "hostkit"


@dataclass(frozen=True)
class Host:
    """Where one editor's plug-in comes from and goes to (paths relative to the roots)."""

    name: str
    title: str
    source: str  # below the plug-in sources folder
    copies: tuple[tuple[str, str], ...]  # (source, destination); folders whole, "" = all of it
    plugin_dir: str  # the plug-in's own folder: hostkit/, nst-host.json and the manifest
    executable: str = ""  # made executable (GIMP runs each plug-in as a program)
    next_step: str = ""
    setting: tuple[str, str] | None = None  # (group, key) of kritarc that enables it


HOSTS = {
    "krita": Host(
        "krita",
        "Krita",
        "krita",
        (
            ("nst_krita.desktop", "pykrita/nst_krita.desktop"),
            ("nst_krita", "pykrita/nst_krita"),
            ("nst_krita.action", "actions/nst_krita.action"),
        ),
        "pykrita/nst_krita",
        next_step="enable Neural Style in Settings > Configure Krita > Python Plugin Manager "
        "and restart Krita",
        setting=("python", "enable_nst_krita"),
    ),
    "gimp": Host(
        "gimp",
        "GIMP",
        "gimp/nst-stylize",
        (("", "plug-ins/nst-stylize"),),
        "plug-ins/nst-stylize",
        executable="plug-ins/nst-stylize/nst-stylize.py",
        next_step="restart GIMP; the filter is Filters > Artistic > Neural Style Transfer...",
    ),
}


def sources_dir() -> Path:
    """The plug-in sources: $NST_HOSTS_DIR, the packaged copy, or the repository's hosts/."""
    explicit = os.environ.get("NST_HOSTS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    package = Path(__file__).resolve().parent
    for candidate in (package / "hosts_data", package.parent / "hosts"):
        if candidate.is_dir():
            return candidate
    return package.parent / "hosts"


def default_dest(host: str) -> Path:
    """The editor's user folder: Krita's resources, GIMP 3's configuration."""
    from .fsutil import user_dir

    if host == "krita":
        return user_dir("XDG_DATA_HOME", ".local/share", windows="APPDATA") / "krita"
    return user_dir("XDG_CONFIG_HOME", ".config", windows="APPDATA") / "GIMP" / "3.0"


def nst_command() -> str:
    """The absolute path of this installation's `nst` executable."""
    name = "nst.exe" if sys.platform.startswith("win") else "nst"
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside.absolute())
    found = shutil.which("nst")
    return str(Path(found).absolute()) if found else str(beside.absolute())


def _files(src: Path, dest: str) -> list[tuple[Path, str]]:
    """(source file, destination relative path) for a file or every file of a folder."""
    if src.is_file():
        return [(src, dest)]
    return [
        (path, f"{dest}/{path.relative_to(src).as_posix()}")
        for path in sorted(src.rglob("*"))
        if path.is_file()
        and path.suffix != ".pyc"
        and not any(
            part.startswith(".") or part == "__pycache__" for part in path.relative_to(src).parts
        )
    ]


def _get(host: str) -> Host:
    if host not in HOSTS:
        raise UserError(f"no plug-in for {host!r}; the editors are: {', '.join(HOSTS)}.")
    return HOSTS[host]


def install(
    host: str, dest: Path | None = None, source: Path | None = None, kritarc: Path | None = None
) -> list[Path]:
    """Copy the plug-in for `host` into `dest`; return the files written.

    `kritarc`: Krita's settings file in which to enable the plug-in (the value it had is
    kept, so uninstalling puts it back); None leaves the editor's settings alone.
    """
    spec = _get(host)
    dest = Path(dest or default_dest(host)).expanduser()
    root = Path(source or sources_dir()) / spec.source
    plan: list[tuple[Path, str]] = []
    for src_rel, dest_rel in spec.copies:
        src = root / src_rel
        if not src.exists():
            raise UserError(
                f"the {spec.title} plug-in's file {src} is missing; reinstall "
                "nst-plugin, or set NST_HOSTS_DIR to the hosts/ folder of its "
                "source."
            )
        plan += _files(src, dest_rel)
    plan += [f for f in _files(HOSTKIT, f"{spec.plugin_dir}/hostkit") if f[0].suffix == ".py"]
    written = []
    for src, rel in plan:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, src.read_bytes())
        written.append(rel)
    if spec.executable:
        (dest / spec.executable).chmod(0o755)
    plugin = dest / spec.plugin_dir
    write_atomic(plugin / HOST_CONFIG, json.dumps(_config(plugin / HOST_CONFIG), indent=2) + "\n")
    written.append(f"{spec.plugin_dir}/{HOST_CONFIG}")
    if kritarc is not None and spec.setting is not None:
        _enable(plugin / ENABLED, Path(kritarc).expanduser().absolute(), *spec.setting)
        written.append(f"{spec.plugin_dir}/{ENABLED}")
    previous = _manifest(dest, spec)
    write_atomic(plugin / MANIFEST, json.dumps(sorted(set(written) | set(previous)), indent=1))
    return [dest / rel for rel in written]


def _enable(record: Path, path: Path, group: str, key: str) -> None:
    """Set `key=true` in kritarc `path`, noting in `record` the value it had (first install)."""
    from . import kritarc

    try:
        before = json.loads(record.read_text(encoding="utf-8"))["before"]
    except (OSError, ValueError, KeyError, TypeError):
        before = kritarc.get(path, group, key)
    try:
        kritarc.put(path, group, key, "true")
    except OSError as exc:
        raise UserError(
            f"the plug-in is installed but could not be enabled in {path} "
            f"({exc.strerror or exc}); enable it in Krita's Python Plugin Manager."
        ) from exc
    write_atomic(
        record,
        json.dumps({"kritarc": str(path), "group": group, "key": key, "before": before}, indent=1)
        + "\n",
    )


def _disable(record: Path) -> None:
    """Put back the kritarc value that install found, unless the user changed it since."""
    from . import kritarc

    try:
        entry = json.loads(record.read_text(encoding="utf-8"))
        path, group, key = Path(entry["kritarc"]), entry["group"], entry["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if kritarc.get(path, group, key) == "true":
        kritarc.put(path, group, key, entry.get("before"))


def _config(path: Path) -> dict:
    """nst-host.json: this installation's `nst`; a service address entered before is kept."""
    config = {"nst": nst_command(), "url": None, "token": None, "fingerprint": None}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return config
    if isinstance(old, dict):
        kept = ("url", "token", "fingerprint")
        config.update({k: old[k] for k in kept if isinstance(old.get(k), str)})
    return config


def _manifest(dest: Path, spec: Host) -> list[str]:
    try:
        listed = json.loads((dest / spec.plugin_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return (
        [
            rel
            for rel in listed
            if isinstance(rel, str) and ".." not in Path(rel).parts and not Path(rel).is_absolute()
        ]
        if isinstance(listed, list)
        else []
    )


def uninstall(host: str, dest: Path | None = None) -> list[Path]:
    """Remove what `install` put into `dest` (and the bytecode Python made of it)."""
    spec = _get(host)
    dest = Path(dest or default_dest(host)).expanduser()
    listed = _manifest(dest, spec)
    if not listed:
        return []
    _disable(dest / spec.plugin_dir / ENABLED)
    removed = []
    folders = set()
    for rel in [*listed, f"{spec.plugin_dir}/{MANIFEST}"]:
        target = dest / rel
        if target.suffix == ".py":
            cache = target.parent / "__pycache__"
            for compiled in cache.glob(f"{target.stem}.*.pyc"):
                compiled.unlink(missing_ok=True)
            folders.add(cache)
        if target.is_file() or target.is_symlink():
            target.unlink()
            removed.append(target)
        parent = target.parent
        while parent != dest and dest in parent.parents:
            folders.add(parent)
            parent = parent.parent
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and folder not in (
            dest / "pykrita",
            dest / "actions",
            dest / "plug-ins",
        ):
            with suppress(OSError):
                folder.rmdir()  # only when empty: the user's own files stay
    return removed
