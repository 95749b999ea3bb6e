"""The Krita side of the editor tests: a real `nst serve` for a test module, the plug-in
installed by the real `nst install-host krita` into a throwaway Krita HOME, and ``run`` to
drive the full Krita with ``PRELUDE`` + a test's ``drive(result)`` (editors.run_krita).

Test modules import the fixtures by name: ``from krita_session import home, nst_service``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import editors
import pytest
from krita_drivers import PRELUDE

REPO = Path(__file__).resolve().parents[2]
NST = REPO / ".venv" / "bin" / "nst"


def one_sentence(text) -> bool:
    """One line, ending with a full stop, no second sentence starting inside it."""
    return (
        isinstance(text, str)
        and text == text.strip()
        and "\n" not in text
        and text.endswith((".", "!", "?"))
        and not re.search(r"[.!?]\s+[A-Z]", text[:-1])
    )


def nst_env(root: Path, service_file: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(
        NST_SERVICE_FILE=str(service_file),
        XDG_DATA_HOME=str(root / "data"),
        XDG_CACHE_HOME=str(root / "cache"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_STATE_HOME=str(root / "state"),
        KERAS_HOME=str(root / "keras"),
        NST_WEIGHTS="random",
        NST_PLUGINS="",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    return env


def stop_service(env: dict, service_file: Path) -> None:
    subprocess.run(
        [str(NST), "serve", "--stop"],
        env=env,
        timeout=60,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pid = json.loads(service_file.read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, KeyError):
        pass


@pytest.fixture(scope="module")
def nst_service(tmp_path_factory):
    """A real `nst serve --weights random` for this module: {"service_file", "env", "url"}."""
    if editors.krita_missing_reason():
        pytest.skip(editors.krita_missing_reason())
    if not NST.exists():
        pytest.skip("the nst command is missing: pip install -e . in .venv")
    root = tmp_path_factory.mktemp("nst-service")
    service_file = root / "service.json"
    env = nst_env(root, service_file)
    log = open(root / "serve.out", "wb")  # noqa: SIM115 - the service writes it until the end
    proc = subprocess.Popen(
        [str(NST), "serve", "--weights", "random"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not service_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("nst serve did not start: " + (root / "serve.out").read_text()[-2000:])
        time.sleep(0.2)
    time.sleep(0.3)
    yield {
        "service_file": service_file,
        "env": env,
        "url": json.loads(service_file.read_text())["url"],
    }
    stop_service(env, service_file)
    proc.wait(timeout=30)
    log.close()


def install(home: Path) -> Path:
    """The real `nst install-host krita` into the Krita HOME, enabled in its kritarc (so every
    test shows Krita loading the plug-in that way); returns the plug-in folder."""
    dest = home / ".local/share/krita"
    subprocess.run(
        [
            str(NST),
            "install-host",
            "krita",
            "--dest",
            str(dest),
            "--kritarc",
            str(editors.kritarc_path(home)),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=60,
    )
    pkg = dest / "pykrita/nst_krita"
    assert (pkg / "hostkit/client.py").exists() and (pkg / "nst-host.json").exists()
    assert (dest / "actions/nst_krita.action").exists()
    return pkg


def run(home: Path, code: str, service_file: Path, timeout: float = 180, **env) -> dict:
    extra = {"NST_SERVICE_FILE": str(service_file), **env}
    for attempt in range(3):
        try:
            outcome = editors.run_krita(home, PRELUDE + code, timeout=timeout, extra_env=extra)
            break
        except editors.EditorError as exc:
            # Another Xvfb of the same number going away under Krita (parallel editor tests
            # on this machine) before its window: start again on a new display.
            if "could not connect to display" not in str(exc) or attempt == 2:
                raise
    assert outcome["uncaught"] == [], outcome["uncaught"]
    return outcome["result"]


@pytest.fixture
def home(krita_home) -> Path:
    install(krita_home)
    return krita_home


def noise_styles(folder: Path, size: int = 96) -> dict:
    """Two flat-noise paintings as PNG files, ``{"red": path, "blue": path}``: clearly
    different colours, so a test can tell which region took which."""
    import random

    from PIL import Image

    rng = random.Random(17)
    found = {}
    for name, channel in (("red", 0), ("blue", 2)):
        pixels = bytearray()
        for _ in range(size * size):
            rgb = [rng.randint(0, 60) for _ in range(3)]
            rgb[channel] = rng.randint(170, 255)
            pixels += bytes(rgb)
        path = folder / f"{name}.png"
        Image.frombytes("RGB", (size, size), bytes(pixels)).save(path)
        found[name] = path
    return found


def grey_photo(folder: Path, width: int = 160) -> Path:
    """The bundled Great Wave in grey at ``width`` pixels: a photo-like layer whose colours
    come only from the style."""
    from PIL import Image

    image = Image.open(REPO / "nst_plugin" / "examples" / "wave.jpg").convert("L")
    path = folder / "grey-photo.png"
    image.resize((width, round(width * image.height / image.width))).convert("RGB").save(path)
    return path
