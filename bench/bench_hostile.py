"""What the defences of `nst serve` (issue 22) cost.

    .venv/bin/python bench/bench_hostile.py
    .venv/bin/python bench/bench_hostile.py --requests 200 --photo 6000x4000

Printed:

- the time of one `/v1/health` request on a new connection, plain HTTP on loopback against
  HTTPS with the pinned self-signed certificate (`--allow-remote`): the TLS handshake and
  the pin check are the difference (two real `nst serve` processes, median of N);
- the memory a queued job holds for a photo-sized upload, now (its PNG bytes) and before
  (decoded at submit), and the time the submit-time check decodes it;
- the time 100 idle connections take to be opened and a health request to answer beside them.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst_plugin.hostkit import client, discovery  # noqa: E402


def start(root: Path, *args: str) -> tuple[subprocess.Popen, dict]:
    env = {
        **os.environ,
        "NST_SERVICE_FILE": str(root / "service.json"),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_DATA_HOME": str(root / "data"),
        "NST_PLUGINS": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nst_plugin.cli", "serve", "--weights", "random", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = discovery.read_service_file(str(root / "service.json"))
        if info and info.get("pid") == proc.pid:
            return proc, info
        time.sleep(0.05)
    raise SystemExit("nst serve did not start")


def health_times(info: dict, n: int) -> list[float]:
    c = client.Client(info["url"], info["token"], fingerprint=info.get("fingerprint"))
    c.health()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        c.health()
        times.append(time.perf_counter() - t)
    return times


def idle_then_health(info: dict, count: int = 100) -> tuple[float, float]:
    host, port = info["url"].rsplit("/", 1)[1].rsplit(":", 1)
    t = time.perf_counter()
    socks = [socket.create_connection((host, int(port))) for _ in range(count)]
    opened = time.perf_counter() - t
    t = time.perf_counter()
    client.Client(info["url"], info["token"]).health(timeout=5)
    answered = time.perf_counter() - t
    for s in socks:
        s.close()
    return opened, answered


def queued_memory(size: tuple[int, int]) -> None:
    from PIL import Image

    from nst_plugin.options import Settings
    from nst_plugin.service.config import ServiceConfig
    from nst_plugin.service.uploads import Uploads, decode_uploads

    photo = Image.open(ROOT / "nst_plugin" / "examples" / "wave.jpg").convert("RGB").resize(size)
    out = io.BytesIO()
    photo.save(out, format="PNG")
    style = io.BytesIO()
    Image.open(ROOT / "nst_plugin" / "examples" / "starry_night.jpg").save(style, format="JPEG")
    uploads = Uploads(out.getvalue(), [("style", style.getvalue())])
    t = time.perf_counter()
    decode_uploads(uploads, ServiceConfig(), Settings())
    seconds = time.perf_counter() - t
    decoded = 4 * size[0] * size[1] + 3 * 1024 * 1024  # content RGBA + style RGB, roughly
    mb = 1024 * 1024
    print(
        f"queued job, {size[0]}x{size[1]} PNG photo + JPEG style: holds {uploads.size / mb:.1f} MB "
        f"(before: about {decoded / mb:.0f} MB decoded); the submit-time check decodes it in "
        f"{seconds * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--photo", default="4000x3000")
    args = parser.parse_args()
    w, h = (int(v) for v in args.photo.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        plain, plain_info = start(Path(tmp) / "plain")
        remote, remote_info = start(Path(tmp) / "tls", "--host", "127.0.0.1", "--allow-remote")
        try:
            for name, info in (("http ", plain_info), ("https", remote_info)):
                times = health_times(info, args.requests)
                median = statistics.median(times) * 1000
                print(
                    f"{name} health on a new connection: median {median:.2f} ms (n={args.requests})"
                )
            opened, answered = idle_then_health(plain_info)
            print(
                f"100 idle connections opened in {opened * 1000:.0f} ms; health beside them "
                f"answered in {answered * 1000:.1f} ms"
            )
        finally:
            for proc in (plain, remote):
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
    queued_memory((w, h))


if __name__ == "__main__":
    main()
