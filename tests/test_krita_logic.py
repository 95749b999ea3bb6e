"""The Krita plug-in's logic (hosts/krita/nst_krita), outside Krita: no Qt, no Krita.

The pure modules (layers, results, settings, regions, scriptargs) run on a small fake
``krita`` module (``FakeKrita`` below). It stands in ONLY for what cannot run outside Krita:
Krita.instance() with its settings, Document, Node (pixelData / setPixelData), Selection.
What it gets right about the real Krita 5.1 (8-bit BGRA pixel order, selections and masks as
1 byte per pixel, a layer's pixels set before it joins the document, addChildNode placing a
layer above another) is checked in the real Krita by hosts/tests/test_krita.py.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
import types
import uuid
from pathlib import Path

import pytest

from nst_plugin import hostkit
from nst_plugin.hostkit import areas, png
from nst_plugin.hostkit import errors as hostkit_errors

HOST = Path(__file__).resolve().parent.parent / "hosts" / "krita"
PACKAGE = HOST / "nst_krita"


# ----------------------------------------------------------------------------- the fake


class Rect:
    def __init__(self, x, y, w, h):
        self._r = (x, y, w, h)

    def x(self):
        return self._r[0]

    def y(self):
        return self._r[1]

    def width(self):
        return self._r[2]

    def height(self):
        return self._r[3]


class Selection:
    """8-bit selection over a canvas (grows as needed); bounds from its non-zero pixels."""

    def __init__(self, size=(256, 256)):
        self.w, self.h = size
        self.data = bytearray(self.w * self.h)

    def select(self, x, y, w, h, value):
        for yy in range(y, y + h):
            self.data[yy * self.w + x : yy * self.w + x + w] = bytes([value]) * w

    def setPixelData(self, data, x, y, w, h):
        for row in range(h):
            self.data[(y + row) * self.w + x : (y + row) * self.w + x + w] = data[
                row * w : (row + 1) * w
            ]

    def pixelData(self, x, y, w, h):
        return b"".join(
            bytes(self.data[(y + r) * self.w + x : (y + r) * self.w + x + w]) for r in range(h)
        )

    def _bounds(self):
        pts = [(i % self.w, i // self.w) for i, v in enumerate(self.data) if v]
        if not pts:
            return 0, 0, 0, 0
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1

    def x(self):
        return self._bounds()[0]

    def y(self):
        return self._bounds()[1]

    def width(self):
        return self._bounds()[2]

    def height(self):
        return self._bounds()[3]

    def duplicate(self):
        copy = Selection((self.w, self.h))
        copy.data[:] = self.data
        return copy


class Node:
    def __init__(self, doc, name, kind, depth="U8"):
        self.doc, self._name, self.kind, self.depth = doc, name, kind, depth
        self.parent, self.children, self.uid = None, [], uuid.uuid4()
        channels = 1 if kind.endswith("mask") else (4 if depth == "U8" else 8)
        self.channels = channels
        self.data = bytearray(doc.w * doc.h * channels)
        self.set_calls = []

    def __eq__(self, other):
        return isinstance(other, Node) and self.uid == other.uid

    def __hash__(self):
        return hash(self.uid)

    def name(self):
        return self._name

    def setName(self, name):
        self._name = name

    def type(self):
        return self.kind

    def uniqueId(self):
        return self.uid

    def childNodes(self):
        return list(self.children)

    def parentNode(self):
        return self.parent

    def colorModel(self):
        return "RGBA"

    def colorDepth(self):
        return self.depth

    def setColorSpace(self, model, depth, profile):
        self.depth, self.channels = depth, 4
        self.data = bytearray(self.doc.w * self.doc.h * 4)
        return True

    def addChildNode(self, child, above):
        child.parent = self
        self.children.insert(self.children.index(above) + 1 if above is not None else 0, child)
        return True

    def pixelData(self, x, y, w, h):
        c, W = self.channels, self.doc.w
        return b"".join(
            bytes(self.data[((y + r) * W + x) * c : ((y + r) * W + x + w) * c]) for r in range(h)
        )

    projectionPixelData = pixelData

    def setPixelData(self, data, x, y, w, h):
        self.set_calls.append((x, y, w, h))
        c, W = self.channels, self.doc.w
        for r in range(h):
            self.data[((y + r) * W + x) * c : ((y + r) * W + x + w) * c] = data[
                r * w * c : (r + 1) * w * c
            ]

    def bounds(self):
        alpha = self.data[self.channels - 1 :: self.channels]  # mask: 1 channel; U16: high byte
        pts = [i for i, a in enumerate(alpha) if a]
        if not pts:
            return Rect(0, 0, 0, 0)
        xs, ys = [i % self.doc.w for i in pts], [i // self.doc.w for i in pts]
        return Rect(min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1)


class Document:
    def __init__(self, w, h, depth="U8"):
        self.w, self.h, self.depth = w, h, depth
        self.root = Node(self, "root", "grouplayer")
        self.sel = None
        self.active = None
        self.closed = False
        self.clones = []
        self.convertible = True

    def __eq__(self, other):
        return other is self

    def __hash__(self):
        return id(self)

    def width(self):
        return self.w

    def height(self):
        return self.h

    def rootNode(self):
        return self.root

    def colorModel(self):
        return "RGBA"

    def colorDepth(self):
        return self.depth

    def createNode(self, name, kind):
        return Node(self, name, kind, self.depth)

    def selection(self):
        return self.sel.duplicate() if self.sel is not None and self.sel.width() else None

    def setSelection(self, sel):
        self.sel = sel.duplicate() if sel is not None else None

    def activeNode(self):
        return self.active

    def setActiveNode(self, node):
        self.active = node

    def waitForDone(self):
        pass

    def refreshProjection(self):
        pass

    def pixelData(self, x, y, w, h):  # the projection: here simply the top layer
        return self.root.children[-1].pixelData(x, y, w, h)

    def close(self):
        self.closed = True
        return True

    def setColorSpace(self, model, depth, profile):
        if not self.convertible:
            return False
        self.depth = depth
        for node in self.root.children:
            src = node.data
            node.depth, node.channels = depth, 4
            node.data = bytearray(src[1::2])  # U16 little-endian: keep the high bytes
        return True

    def clone(self):
        copy = Document(self.w, self.h, self.depth)
        copy.convertible = self.convertible
        for node in self.root.children:
            twin = Node(copy, node.name(), node.type(), node.depth)
            twin.data[:] = node.data
            copy.root.addChildNode(twin, copy.root.children[-1] if copy.root.children else None)
        self.clones.append(copy)
        return copy


class FakeKrita:
    def __init__(self):
        self.settings = {}
        self.active_document = None
        self.window = object()
        self.docs = []

    def readSetting(self, group, key, default):
        return self.settings.get((group, key), default)

    def writeSetting(self, group, key, value):
        self.settings[(group, key)] = value

    def activeDocument(self):
        return self.active_document

    def activeWindow(self):
        return self.window

    def documents(self):
        return list(self.docs)


@pytest.fixture
def fake(monkeypatch):
    """The fake ``krita`` module; ``nst_krita`` imported from hosts/krita with the real client."""
    app = FakeKrita()
    module = types.ModuleType("krita")
    module.Krita = type("Krita", (), {"instance": staticmethod(lambda: app)})
    module.Selection = Selection
    monkeypatch.setitem(sys.modules, "krita", module)
    monkeypatch.syspath_prepend(str(HOST))
    for name in [m for m in sys.modules if m == "nst_krita" or m.startswith("nst_krita.")]:
        monkeypatch.delitem(sys.modules, name)
    # `nst install-host krita` copies the host kit into the package: the same modules here.
    monkeypatch.setitem(sys.modules, "nst_krita.hostkit", hostkit)
    for path in Path(hostkit.__file__).parent.glob("*.py"):
        if path.stem != "__init__":
            module = importlib.import_module("nst_plugin.hostkit." + path.stem)
            monkeypatch.setitem(sys.modules, "nst_krita.hostkit." + path.stem, module)
    mods = types.SimpleNamespace(app=app, PluginError=hostkit_errors.PluginError)
    for name in ("layers", "results", "settings", "regions", "scriptargs"):
        setattr(mods, name, importlib.import_module("nst_krita." + name))
    return mods


def pattern(w, h):
    return bytes(v for i in range(w * h) for v in ((i * 7) % 256, (i * 3) % 256, i % 256, 255))


def make_doc(fake, w=96, h=64, depth="U8", shown=True):
    doc = Document(w, h, depth)
    layer = doc.createNode("Photo", "paintlayer")
    doc.root.addChildNode(layer, None)
    data = pattern(w, h)
    layer.data[:] = data if depth == "U8" else bytes(b for v in data for b in (0, v))
    doc.setActiveNode(layer)
    fake.app.docs.append(doc)
    if shown:
        fake.app.active_document = doc
    return doc, layer


def one_sentence(text: str) -> bool:
    return (
        text == text.strip()
        and "\n" not in text
        and text.endswith(".")
        and not re.search(r"[.!?]\s+[A-Z]", text[:-1])
    )


# ----------------------------------------------------------------------------- geometry


def test_read_source_with_a_selection_sends_its_box_and_mask(fake):
    doc, layer = make_doc(fake)
    sel = Selection((96, 64))
    sel.select(40, 20, 24, 16, 255)
    sel.select(38, 20, 2, 16, 128)  # a soft edge
    doc.setSelection(sel)
    src = fake.layers.read_source(doc, margin=8)
    assert src.box == (30, 12, 42, 32) and src.node == layer and src.label == "Photo"
    assert src.pixels == layer.pixelData(*src.box)
    assert len(src.pixels) == 42 * 32 * 4
    assert src.mask == sel.pixelData(*src.box) and src.mask.count(128) == 2 * 16


def test_read_source_without_selection_whole_selection_visible_and_masks(fake):
    doc, layer = make_doc(fake)
    src = fake.layers.read_source(doc)
    assert src.box == (0, 0, 96, 64) and src.mask is None
    sel = Selection((96, 64))
    sel.select(0, 0, 96, 64, 255)
    doc.setSelection(sel)
    assert fake.layers.read_source(doc).mask is None  # all of the box selected: no mask
    doc.setSelection(None)
    small = doc.createNode("Sticker", "paintlayer")
    doc.root.addChildNode(small, layer)
    small.setPixelData(pattern(10, 5), 20, 30, 10, 5)
    assert fake.layers.read_source(doc, small).box == (20, 30, 10, 5)
    visible = fake.layers.read_source(doc, visible=True)
    assert (
        visible.node is None and visible.box == (0, 0, 96, 64) and visible.label == "Visible image"
    )
    mask = doc.createNode("m", "transparencymask")
    small.addChildNode(mask, None)
    assert fake.layers.read_source(doc, mask).node == small  # a mask stands for its layer


def test_read_source_refuses_in_one_sentence(fake):
    doc, layer = make_doc(fake)
    empty = doc.createNode("Empty", "paintlayer")
    doc.root.addChildNode(empty, layer)
    errors = []
    for call in (
        lambda: fake.layers.read_source(doc, empty),
        lambda: fake.layers.read_source(None),
        lambda: fake.layers.read_style_layer(doc, empty),
    ):
        with pytest.raises(fake.PluginError) as info:
            call()
        errors.append(str(info.value))
    assert "Empty" in errors[0] and "No document" in errors[1]
    assert all(one_sentence(e) for e in errors), errors


def test_other_colour_depths_are_read_from_a_converted_clone(fake):
    doc, layer = make_doc(fake, 16, 8, depth="U16")
    src = fake.layers.read_source(doc)
    assert src.pixels == pattern(16, 8)  # 8-bit BGRA from the clone
    assert doc.depth == "U16" and layer.depth == "U16"  # the document itself is untouched
    assert doc.clones and all(c.closed for c in doc.clones)
    doc.convertible = False
    with pytest.raises(fake.PluginError) as info:
        fake.layers.read_source(doc)
    assert one_sentence(str(info.value)) and "U16" in str(info.value)


# ----------------------------------------------------------------------------- results


def test_results_stack_above_the_source_newest_on_top_and_the_source_stays_active(fake):
    doc, layer = make_doc(fake)
    top = doc.createNode("Sketch", "paintlayer")
    doc.root.addChildNode(top, layer)
    before = bytes(layer.data)
    src = fake.layers.read_source(doc)
    result = bytes(v for _ in range(96 * 64) for v in (1, 2, 3, 255))
    first = fake.results.insert_result(doc, src, result, "wave 70% · fast")
    second = fake.results.insert_result(doc, src, result, "wave 70% · vgg19")
    again = fake.results.insert_result(doc, src, result, "wave 70% · fast")
    names = [n.name() for n in doc.root.children]
    assert names == [
        "Photo",
        "wave 70% · fast",
        "wave 70% · vgg19",
        "wave 70% · fast (2)",
        "Sketch",
    ]
    assert (first.name(), second.name(), again.name())[-1] == "wave 70% · fast (2)"
    assert doc.activeNode() == layer  # the next Stylize starts from the photo again
    assert second.set_calls == [src.box] and second.pixelData(*src.box) == result
    assert bytes(layer.data) == before  # the user's layer is never written


def test_a_selection_goes_into_the_result_layers_alpha(fake):
    for shown in (True, False):
        doc, _layer = make_doc(fake, shown=shown)
        sel = Selection((96, 64))
        sel.select(10, 10, 4, 4, 255)
        sel.select(14, 10, 2, 4, 100)
        doc.setSelection(sel)
        src = fake.layers.read_source(doc, margin=2)
        assert src.box == (8, 8, 10, 8)
        result = b"\x10\x20\x30\xff" * (src.box[2] * src.box[3])
        new = fake.results.insert_result(doc, src, result, "N")
        assert new.childNodes() == []  # one layer: one undo step removes all of it
        alpha = new.pixelData(*src.box)[3::4]
        assert alpha == bytes((255 * m + 127) // 255 for m in src.mask)
        assert alpha.count(255) == 16 and alpha.count(100) == 8 and alpha.count(0) == 56


def test_result_layer_of_a_16_bit_document_is_8_bit(fake):
    doc, _layer = make_doc(fake, 8, 4, depth="U16")
    src = fake.layers.read_source(doc)
    new = fake.results.insert_result(doc, src, pattern(8, 4), "N")
    assert new.colorDepth() == "U8" and new.pixelData(0, 0, 8, 4) == pattern(8, 4)


def test_bgra_alpha_helpers_and_png(fake):
    keep, multiply = fake.results.keep_alpha, areas.multiply_alpha
    assert (
        keep(b"\x01\x02\x03\xff\x04\x05\x06\xff", b"\x00\x00\x00\x10\x00\x00\x00\x00")
        == b"\x01\x02\x03\x10\x04\x05\x06\x00"
    )
    assert (
        multiply(b"\x01\x02\x03\xff\x01\x02\x03\x80", b"\x80\xff")
        == b"\x01\x02\x03\x80\x01\x02\x03\x80"
    )
    with pytest.raises(ValueError):
        multiply(b"\x00" * 8, b"\x00")
    # Krita's 8-bit order is B, G, R, A: the PNG the service gets is RGBA.
    w, h, mode, rgba = png.decode_png(
        png.encode_png(2, 1, b"\x0a\x14\x1e\xff\x01\x02\x03\x04", "BGRA")
    )
    assert (w, h, mode, rgba) == (2, 1, "RGBA", b"\x1e\x14\x0a\xff\x03\x02\x01\x04")


# ----------------------------------------------------------------------------- regions


def paint(node, x, y, w, h, bgra):
    node.setPixelData(bytes(bgra) * (w * h), x, y, w, h)


def half_selection(doc, right=False):
    sel = Selection((doc.w, doc.h))
    sel.select(doc.w // 2 if right else 0, 0, doc.w // 2, doc.h, 255)
    doc.setSelection(sel)


def test_regions_from_selections_layers_and_masks_over_the_jobs_box(fake):
    doc, layer = make_doc(fake)
    style_a, style_b, style_c = ({"name": n, "label": n} for n in ("red", "blue", "green"))
    half_selection(doc)
    left = fake.regions.from_selection(doc, style_a)
    half_selection(doc, right=True)  # the first region kept its own selection
    right = fake.regions.from_selection(doc, style_b)
    assert (left.where, right.where) == ("selection 48x64 px", "selection 48x64 px")
    top = doc.createNode("Top", "paintlayer")  # white on top, transparent below
    doc.root.addChildNode(top, layer)
    paint(top, 0, 0, 96, 20, (255, 255, 255, 255))
    paint(top, 0, 20, 96, 4, (255, 255, 255, 128))  # a soft edge: grey under its alpha
    mask = doc.createNode("Mask", "transparencymask")
    layer.addChildNode(mask, None)
    mask.setPixelData(bytes([200]) * (96 * 64), 0, 0, 96, 64)
    found = [left, right, fake.regions.from_node(doc, top, style_c)]
    found.append(fake.regions.from_node(doc, mask, style_a))
    assert found[2].where == "layer 'Top'" and found[3].where == "mask 'Mask'"
    box = (40, 10, 16, 20)  # what a job sends: a selection's box plus its margin
    guides = fake.regions.read_guides(doc, box, found, strength=top)
    assert guides.styles == [style_a, style_b, style_c, style_a]
    assert all(len(m) == 16 * 20 for m in guides.masks)
    row = guides.masks[0][:16]
    assert row == bytes([255] * 8 + [0] * 8) and guides.masks[1][:16] == bytes([0] * 8 + [255] * 8)
    assert guides.masks[2] == bytes([255] * 16 * 10 + [128] * 16 * 4 + [0] * 16 * 6)
    assert guides.masks[3] == bytes([200]) * (16 * 20)
    assert guides.strength_map == guides.masks[2]
    assert fake.regions.read_guides(doc, box) == fake.regions.Guides([], [], None)
    names = [label for label, _ in fake.regions.guide_nodes(doc)]
    assert names == ["Top", "Photo", "Photo / Mask"]  # as the Layers docker lists them


def test_regions_that_cannot_make_a_job_are_one_sentence(fake):
    doc, layer = make_doc(fake)
    style = {"name": "wave", "label": "wave"}
    empty = doc.createNode("Empty", "paintlayer")
    doc.root.addChildNode(empty, layer)
    other, other_layer = make_doc(fake, shown=False)
    half_selection(doc)
    kept = fake.regions.from_selection(doc, style)
    gone = fake.regions.from_node(doc, empty, style)
    doc.root.children.remove(empty)
    box = (0, 0, 96, 64)
    cases = {
        "black": lambda: fake.regions.read_guides(
            doc, box, [fake.regions.from_node(doc, layer, style), _black_region(fake, doc)]
        ),
        "too many": lambda: fake.regions.read_guides(doc, box, [kept] * 9),
        "other document": lambda: fake.regions.read_guides(other, box, [kept]),
        "node of another document": lambda: fake.regions.from_node(doc, other_layer, style),
        "gone": lambda: fake.regions.read_guides(doc, box, [gone]),
        "map of another document": lambda: fake.regions.read_guides(doc, box, [], other_layer),
        "no selection": lambda: fake.regions.from_selection(other, style),
    }
    said = {}
    for name, call in cases.items():
        with pytest.raises(fake.PluginError) as info:
            call()
        said[name] = str(info.value)
    assert all(one_sentence(text) for text in said.values()), said
    assert "region 2 is all black" in said["black"] and "at most 8" in said["too many"]
    assert "another document" in said["other document"] and "'Empty'" in said["gone"]
    assert "Photo" in said["node of another document"] and "Select" in said["no selection"]
    doc.w += 10  # the image was resized after the selection was kept
    with pytest.raises(fake.PluginError, match="size changed since region 1"):
        fake.regions.read_guides(doc, (0, 0, 10, 10), [kept])


def _black_region(fake, doc):
    black = doc.createNode("Black", "paintlayer")
    doc.root.addChildNode(black, None)
    paint(black, 0, 0, 96, 64, (0, 0, 0, 255))
    return fake.regions.from_node(doc, black, {"name": "wave", "label": "wave"})


def test_script_styles_one_blended_or_regions_and_their_sentences(fake):
    doc, layer = make_doc(fake)
    _other, other_layer = make_doc(fake, shown=False)
    styles = fake.scriptargs.script_styles
    assert styles(doc, "wave") == ({"name": "wave", "label": "wave"}, [], None)
    style, found, share = styles(doc, "wave", blend_with="kiss", blend=0.3)
    assert [s["name"] for s in style] == ["wave", "kiss"] and found == [] and share == 0.3
    assert styles(doc, "wave", blend_with=layer)[2] == 0.5  # a layer blends in too
    assert styles(doc, "wave", blend_with=layer)[0][1]["label"] == "Photo"
    sel = Selection((96, 64))
    sel.select(0, 0, 10, 10, 255)
    style, found, share = styles(doc, styles=[("wave", layer), ("kiss", sel)])
    assert [s["name"] for s in style] == ["wave", "kiss"] and share is None
    assert [r.where for r in found] == ["layer 'Photo'", "selection 10x10 px"]
    bad = {
        "both": dict(style="wave", styles=[("kiss", layer)]),
        "blend with regions": dict(styles=[("kiss", layer)], blend_with="wave"),
        "blend alone": dict(style="wave", blend=0.4),
        "not pairs": dict(styles=["wave", "kiss"]),
        "empty": dict(styles=[]),
        "mask type": dict(styles=[("wave", "layer name")]),
        "foreign mask": dict(styles=[("wave", other_layer)]),
        "style type": dict(style=3),
        "no style": dict(),
        "blend type": dict(style="wave", blend_with="kiss", blend="half"),
    }
    said = {}
    for name, kwargs in bad.items():
        with pytest.raises(fake.PluginError) as info:
            styles(doc, **kwargs)
        said[name] = str(info.value)
    assert all(one_sentence(text) for text in said.values()), said
    assert "not both" in said["both"] and "blend_with=" in said["blend alone"]
    assert "region 1 is str" in said["mask type"] and "not part of this" in said["foreign mask"]
    assert "not int" in said["style type"]
    with pytest.raises(fake.PluginError, match="strength map 'Photo' is not part"):
        fake.scriptargs.script_node(doc, other_layer, "strength map")
    assert fake.scriptargs.script_node(doc, None, "strength map") is None


# ----------------------------------------------------------------------------- settings


def test_connection_settings(fake):
    """An address the user entered wins, then nst-host.json's, else start the `nst` it names."""
    kw, st = hostkit.discovery.connect_kwargs, fake.settings
    wait = hostkit.discovery.START_WAIT
    host = {"nst": "/opt/nst/bin/nst", "url": None, "token": None}
    assert kw({"url": "", "token": ""}, host) == {
        "nst_command": "/opt/nst/bin/nst",
        "start": True,
        "wait": wait,
    }
    assert kw({"url": "http://10.0.0.2:5000 ", "token": "t"}, host) == {
        "url": "http://10.0.0.2:5000",
        "token": "t",
    }
    assert kw({"url": ""}, {"url": "http://127.0.0.1:9", "token": "x"}) == {
        "url": "http://127.0.0.1:9",
        "token": "x",
    }
    assert kw({}, {}) == {"nst_command": None, "start": False, "wait": wait}
    st.write(" http://h:1 ", "secret")
    assert st.read() == {"url": "http://h:1", "token": "secret", "fingerprint": ""}
    assert fake.app.settings[("nst_krita", "url")] == "http://h:1"
    st.write("https://h:1", "secret", " AB:CD ")  # a remote service's pinned certificate
    assert st.load() == {"url": "https://h:1", "token": "secret", "fingerprint": "AB:CD"}


def test_remembered_choices_come_back_and_damage_gives_the_default(fake):
    st = fake.settings
    defaults = {entry.key: entry.default for entry in st.REMEMBERED}
    assert st.read_choices() == defaults
    st.write_choices({"strength": 40, "preserve_colors": True, "size": 1024, "quality": None})
    assert fake.app.settings[("nst_krita", "preserve_colors")] == "true"
    assert ("nst_krita", "quality") not in fake.app.settings  # None: nothing to keep
    kept = st.read_choices()
    assert kept == {**defaults, "strength": 40, "preserve_colors": True, "size": 1024}
    fake.app.settings[("nst_krita", "strength")] = "lots"
    assert st.read_choices()["strength"] == defaults["strength"]


# ----------------------------------------------------------------------------- the package


def test_package_shape():
    for name in ("layers.py", "results.py", "settings.py", "regions.py", "scriptargs.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not any(
            "PyQt5" in ast.unparse(n) or getattr(n, "module", "") == "krita" for n in top
        ), name
    desktop = (HOST / "nst_krita.desktop").read_text()
    for line in (
        "ServiceTypes=Krita/PythonPlugin",
        "X-KDE-Library=nst_krita",
        "X-Python-2-Compatible=false",
        "Name=Neural Style",
    ):
        assert line in desktop.splitlines()
    action = (HOST / "nst_krita.action").read_text()
    assert (
        '<Action name="nst_krita_open">' in action
        and "<text>Neural Style Transfer...</text>" in action
    )
