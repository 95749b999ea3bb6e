"""Driver code that the Krita tests run inside the real Krita (``editors.run_krita``).

PRELUDE is put before every test's ``drive(result)``; the others are whole drivers (or, for
DOCKER_PRELUDE, helpers for the docker's tests) and BASELINE_JOB a script that the stall
driver runs with Debian's /usr/bin/python3 beside Krita.
"""

# Helpers available to every drive() of the Krita tests (runs inside Krita).
PRELUDE = r'''
import hashlib, time
from krita import Selection
from PyQt5.QtCore import QTimer, QElapsedTimer


def pattern(w, h):
    px = bytearray()
    for y in range(h):
        for x in range(w):
            px += bytes(((x * 5) % 256, (y * 7) % 256, (x * y) % 256, 255))
    return bytes(px)


def make_doc(w=96, h=64, view=True, name="nst-test"):
    k = Krita.instance()
    doc = k.createDocument(w, h, name, "RGBA", "U8", "", 72.0)
    if view:
        main_window().addView(doc)
        process_events(0.3)
    layer = doc.createNode("Photo", "paintlayer")
    doc.rootNode().addChildNode(layer, None)
    layer.setPixelData(pattern(w, h), 0, 0, w, h)
    doc.refreshProjection()
    doc.waitForDone()
    if view:
        activate(doc, layer)
    return doc, layer


def activate(doc, node):
    """Make ``node`` the active layer. Krita 5.1's view learns about nodes added from Python
    only when the global selection's node comes or goes, so select and deselect first."""
    sel = Selection(); sel.select(0, 0, 1, 1, 255)
    doc.setSelection(sel); doc.waitForDone(); process_events(0.1)
    doc.setSelection(None); doc.waitForDone(); process_events(0.1)
    doc.setActiveNode(node)
    process_events(0.1)
    assert doc.activeNode() == node, doc.activeNode().name()


def digest(node, doc):
    return hashlib.sha1(bytes(node.pixelData(0, 0, doc.width(), doc.height()))).hexdigest()


def snapshot(doc):
    """Every node: (name, type, pixel digest), depth first."""
    out = []
    def walk(node):
        for child in node.childNodes():
            out.append([child.name(), child.type(), digest(child, doc)])
            walk(child)
    walk(doc.rootNode())
    return out


def painted_box(node, doc):
    """[x, y, w, h] of the pixels whose alpha is not 0 in the node's own data (no masks)."""
    w, h = doc.width(), doc.height()
    alpha = bytes(node.pixelData(0, 0, w, h))[3::4]
    xs = [i % w for i, a in enumerate(alpha) if a]
    ys = [i // w for i, a in enumerate(alpha) if a]
    return [min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1] if xs else None


def wait_until(predicate, timeout=60.0):
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            return False
        process_events(0.05)
    return True


def service_client():
    from nst_krita.hostkit import discovery
    return discovery.connect(start=False)


def service_state(service, job_id):
    """The job's state in the service; "gone" once a cancel (DELETE) made it forget the job."""
    from nst_krita.hostkit.errors import ServiceError
    try:
        return service.status(job_id).get("state")
    except ServiceError as exc:
        if "no job" in str(exc):
            return "gone"
        raise
'''


ERROR_DRIVE = r"""
def drive(result):
    import nst_krita
    doc, layer = make_doc(96, 64)
    before = snapshot(doc)
    job = nst_krita.stylize(document=doc, node=layer, style="starry_night", iterations=5)
    try:
        job.wait(90)
    except Exception as exc:
        result["raised"] = type(exc).__name__
    result["state"], result["error"] = job.state, job.error
    process_events(0.3)
    result["same"] = snapshot(doc) == before
"""


DOCKER_PRELUDE = r'''
from nst_krita.extension import find_docker


def docker_stylize(dock, style, timeout=300, on_tick=None):
    """Pick ``style`` in the docker's library and press Stylize; wait for the end."""
    wait_until(lambda: dock.picker.count > 0, 120)
    items = dock.styles.findItems(style, __import__("PyQt5.QtCore").QtCore.Qt.MatchExactly)
    dock.styles.setCurrentItem(items[0])
    dock.stylize_button.click()
    job = dock.job
    assert job is not None, dock.status.text()
    wait_until(lambda: job.state != "running", timeout)
    return job
'''


BASELINE_JOB = """
import sys
sys.path.insert(0, sys.argv[1])
from hostkit import discovery
service = discovery.connect(start=False)
job = service.submit(open(sys.argv[2], "rb").read(), style_name="starry_night",
                     options={"iterations": int(sys.argv[3]), "engine": "vgg19"})
service.wait(job)
"""

TICKS_PRELUDE = r"""
class Ticks:
    # A 10 ms QTimer that notes how late each tick comes: the UI's stalls.
    def __init__(self, stage=lambda: ""):
        self.stage, self.last, self.worst, self.n, self.late, self.top = stage, None, 0.0, 0, 0, []
        self.clock = QElapsedTimer(); self.clock.start()
        self.timer = QTimer(); self.timer.setInterval(10); self.timer.timeout.connect(self.tick)
        self.timer.start()

    def tick(self):
        now = self.clock.elapsed() / 1000.0
        if self.last is not None:
            gap = now - self.last - 0.010
            self.worst = max(self.worst, gap)
            if gap > 0.05:
                self.late += 1
                self.top.append([round(gap * 1000), round(now, 2), self.stage()])
        self.last, self.n = now, self.n + 1

    def stop(self, seconds):
        self.timer.stop()
        return {"worst_stall_ms": round(self.worst * 1000, 1), "late_ticks_over_50ms": self.late,
                "ticks": self.n, "seconds": round(seconds, 1),
                "worst_ticks_ms_at_s_stage": sorted(self.top, reverse=True)[:6]}
"""

STALL_DRIVE = (
    DOCKER_PRELUDE
    + TICKS_PRELUDE
    + r"""
import os, subprocess


def drive(result):
    k = Krita.instance()
    doc = k.openDocument(CONTENT)
    main_window().addView(doc)
    process_events(0.5)
    doc.setActiveNode(doc.topLevelNodes()[0])
    k.action("nst_krita_open").trigger()
    dock = find_docker()
    wait_until(lambda: dock.picker.count > 0, 60)
    # The same job from another process while Krita only idles: the baseline.
    pkg = os.path.dirname(__import__("nst_krita").__file__)
    t0 = time.monotonic()
    ticks = Ticks()
    child = subprocess.Popen(["/usr/bin/python3", BASELINE, pkg, CONTENT, "ITERATIONS"])
    wait_until(lambda: child.poll() is not None, 400)
    result["baseline"] = ticks.stop(time.monotonic() - t0)
    result["baseline"]["exit"] = child.returncode
    # The docker's job.
    dock.strength.setValue(80)
    dock.size.setCurrentIndex(0)  # the document's size
    dock.engine.setCurrentIndex(dock.engine.findData("vgg19"))
    dock.sections["results"].set_open(True)
    dock.extra_options = {"iterations": ITERATIONS}
    t0 = time.monotonic()
    ticks = Ticks(lambda: dock.job.last_event.get("stage") if dock.job else "idle")
    job = docker_stylize(dock, "starry_night", timeout=400)
    result["docker"] = ticks.stop(time.monotonic() - t0)
    result["state"], result["error"] = job.state, job.error
    result["size"] = [doc.width(), doc.height()]
    activate(doc, job.layer)  # the Layers docker lists it (nested event loops delay that)
    # For the picture: only the Layers docker beside ours, the image fit in the window.
    from PyQt5.QtCore import Qt
    from PyQt5.QtWidgets import QDockWidget
    qwin = main_window().qwindow()
    layerbox = None
    for other in qwin.findChildren(QDockWidget):
        if other.objectName() == "KisLayerBox":
            layerbox = other
        elif other is not dock:
            other.hide()
    process_events(0.3)
    if layerbox is not None:
        qwin.resizeDocks([layerbox, dock], [170, 780], Qt.Vertical)
    qwin.resizeDocks([dock], [360], Qt.Horizontal)
    dock.history.list.setCurrentRow(0)
    process_events(0.5)
    main_window().activeView().canvas().setZoomLevel(1.5)
    process_events(1.0)
    screenshot(SHOT)
"""
)


# Helpers for the regions' tests (after PRELUDE): what colour each side of a layer took.
REGIONS_PRELUDE = r'''
def side_means(node, doc, side):
    """Mean [R, G, B] of ``node``'s pixels in the left or right 40 % of the image (the middle
    fifth left out: the fast engine feathers where two regions meet)."""
    w, h = doc.width(), doc.height()
    px = bytes(node.pixelData(0, 0, w, h))
    xs = range(0, int(w * 0.4)) if side == "left" else range(int(w * 0.6), w)
    sums, n = [0, 0, 0], 0
    for y in range(0, h, 2):
        for x in xs[::2]:
            i = 4 * (y * w + x)
            sums[0] += px[i + 2]; sums[1] += px[i + 1]; sums[2] += px[i]; n += 1
    return [round(s / n, 1) for s in sums]


def side_difference(a, b, doc, side):
    """Mean absolute difference of two layers' colours on one side (as side_means)."""
    w, h = doc.width(), doc.height()
    pa, pb = bytes(a.pixelData(0, 0, w, h)), bytes(b.pixelData(0, 0, w, h))
    xs = range(0, int(w * 0.4)) if side == "left" else range(int(w * 0.6), w)
    total, n = 0, 0
    for y in range(0, h, 2):
        for x in xs[::2]:
            i = 4 * (y * w + x)
            total += sum(abs(pa[i + c] - pb[i + c]) for c in range(3)); n += 3
    return round(total / n, 1)


def photo_doc(path):
    """make_doc() with the picture at ``path`` as its Photo layer."""
    from PyQt5.QtGui import QImage
    image = QImage(path).convertToFormat(QImage.Format_ARGB32)  # B, G, R, A in memory
    w, h = image.width(), image.height()
    doc, photo = make_doc(w, h)
    photo.setPixelData(image.constBits().asstring(image.byteCount()), 0, 0, w, h)
    doc.refreshProjection(); doc.waitForDone()
    return doc, photo


def half(doc, side, value=255):
    """A selection of the left or right half of the image."""
    sel = Selection()
    w, h = doc.width(), doc.height()
    sel.select(0 if side == "left" else w // 2, 0, w // 2, h, value)
    return sel


def half_layer(doc, name, side):
    """A hidden layer: white on ``side``, black on the other."""
    w, h = doc.width(), doc.height()
    node = doc.createNode(name, "paintlayer")
    doc.rootNode().addChildNode(node, None)
    white, black = b"\xff\xff\xff\xff", b"\x00\x00\x00\xff"
    first, second = (white, black) if side == "left" else (black, white)
    row = first * (w // 2) + second * (w - w // 2)
    node.setPixelData(row * h, 0, 0, w, h)
    node.setVisible(False)
    doc.refreshProjection(); doc.waitForDone()
    return node
'''
