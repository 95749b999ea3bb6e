"""Benchmark what the Krita docker's quick preview costs Krita's UI thread on a large document.

    .venv/bin/python bench/bench_krita_preview_source.py            # 6000 x 4000
    .venv/bin/python bench/bench_krita_preview_source.py --size 3000 2000

Runs the real Krita (Xvfb, through the editor-test harness in hosts/tests) with the plugin's
own modules, on an RGBA 8-bit document filled with a pattern, and prints the median of 5 of:
reading the layer as a job would (`layers.read_source`), shrinking it to 384 px
(`quickpreview.shrink`), and the 64 px thumbnail the docker compares to know whether it must
read the layer again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hosts" / "tests"))

DRIVE = r"""
import statistics, sys, time
sys.path.insert(0, HOSTS)
sys.modules.setdefault("nst_krita.client", type(sys)("client"))  # not used here


def drive(result):
    from nst_krita import layers, quickpreview
    W, H = SIZE
    doc = Krita.instance().createDocument(W, H, "bench", "RGBA", "U8", "", 72.0)
    main_window().addView(doc); process_events(0.5)
    node = doc.topLevelNodes()[0]
    node.setPixelData(bytes(range(256)) * (W * H * 4 // 256), 0, 0, W, H)
    doc.refreshProjection(); doc.waitForDone(); process_events(0.5)
    doc.setActiveNode(node); process_events(0.2)
    times = {"read_source": [], "shrink": [], "thumbnail_64": []}
    for _ in range(5):
        t = time.perf_counter(); source = layers.read_source(doc, node); t1 = time.perf_counter()
        quickpreview.shrink(source); t2 = time.perf_counter()
        node.thumbnail(64, 64); t3 = time.perf_counter()
        times["read_source"].append(t1 - t); times["shrink"].append(t2 - t1)
        times["thumbnail_64"].append(t3 - t2)
    result.update({k: round(statistics.median(v) * 1000, 1) for k, v in times.items()})
"""


def main() -> int:
    import editors

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=(6000, 4000), metavar=("W", "H"))
    args = parser.parse_args()
    reason = editors.krita_missing_reason()
    if reason:
        raise SystemExit(reason)
    home = Path(tempfile.mkdtemp(prefix="nst-bench-krita-"))
    try:
        editors.prepare_krita_home(home)
        code = DRIVE.replace("HOSTS", repr(str(ROOT / "hosts" / "krita"))).replace(
            "SIZE", repr(tuple(args.size))
        )
        out = editors.run_krita(home, code, timeout=600)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    w, h = args.size
    print(f"Krita quick-preview source, {w} x {h} RGBA 8-bit, median of 5 (ms):")
    print(json.dumps(out["result"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
