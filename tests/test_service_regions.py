"""Style masks and a strength map sent to a real `nst serve` over HTTP as uploaded parts of a
job (fields style_mask, one per style in order, and strength_map); bad ones are a 400 with
one sentence and no job; paths in the options are refused."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from test_service import one_sentence, service  # noqa: F401 - the fixture: a real service

from nst_plugin.hostkit import client
from nst_plugin.hostkit.png import decode_png

W, H = 48, 32


def encoded(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def flat(colour, seed) -> Image.Image:
    rng = np.random.default_rng(seed)
    noisy = np.asarray(colour, np.float32) + rng.normal(0, 20, (40, 40, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


PHOTO = Image.linear_gradient("L").resize((W, H)).convert("RGB")
RED, BLUE = encoded(flat((220, 40, 40), 0)), encoded(flat((40, 40, 220), 1))


def half(side: str, size=(W, H)) -> bytes:
    mask = Image.new("L", size, 0)
    w, h = size
    mask.paste(255, (0, 0, w // 2, h) if side == "left" else (w // 2, 0, w, h))
    return encoded(mask)


def form(masks=(), strength_map=None, styles=(RED, BLUE), options=None):
    files = [("content", "c.png", "image/png", encoded(PHOTO))]
    files += [("style", f"s{i}.png", "image/png", s) for i, s in enumerate(styles)]
    files += [("style_mask", f"m{i}.png", "image/png", m) for i, m in enumerate(masks)]
    if strength_map is not None:
        files.append(("strength_map", "map.png", "image/png", strength_map))
    opts = options or {"size": W, "iterations": 20, "scales": 1}
    return client.encode_multipart([("options", json.dumps(opts))], files)


def run(service, *args, **kw) -> np.ndarray:
    job = service.client.call("POST", "/jobs", *form(*args, **kw))["id"]
    width, height, mode, pixels = decode_png(service.client.wait(job))
    channels = len(mode)
    return np.frombuffer(bytes(pixels), np.uint8).reshape(height, width, channels)[..., :3]


def redness(a) -> float:
    a = a.astype(np.float32)
    return float(a[..., 0].mean() - a[..., 2].mean())


def test_masks_and_a_map_arrive_as_uploaded_parts(service):
    a = run(service, [half("left"), half("right")])
    b = run(service, [half("right"), half("left")])
    m = W // 2 - 6
    assert redness(a[:, :m]) > redness(a[:, -m:]) + 60
    assert redness(b[:, -m:]) > redness(b[:, :m]) + 60
    kept = run(service, [half("left"), half("right")], strength_map=half("left"))
    photo = np.asarray(PHOTO, np.float32)
    assert np.abs(kept[:, -m:] - photo[:, -m:]).mean() < 5  # black in the map: the photo
    assert np.abs(kept[:, :m] - photo[:, :m]).mean() > 30


@pytest.mark.parametrize(
    "case, words",
    [
        ("count", "1 style mask given for 2 style images"),
        ("black", "black everywhere"),
        ("aspect", "different shape"),
        ("corrupt", "style_mask #1"),
        ("path", "send style_masks as uploaded image files"),
    ],
)
def test_bad_masks_are_a_400_with_one_sentence(service, case, words):
    before = len(service.jobs())
    masks, options = [half("left"), half("right")], None
    if case == "count":
        masks = masks[:1]
    elif case == "black":
        masks[1] = encoded(Image.new("L", (W, H)))
    elif case == "aspect":
        masks[0] = half("left", (W, W * 3))
    elif case == "corrupt":
        masks[0] = b"not an image"
    elif case == "path":
        masks, options = [], {"size": W, "style_masks": ["/etc/passwd", "/etc/hosts"]}
    body, ctype = form(masks, options=options)
    status, message = service.error("POST", "/v1/jobs", body, {"Content-Type": ctype})
    assert status == 400 and words.lower() in message.lower(), message
    one_sentence(message)
    assert len(service.jobs()) == before


def test_a_library_painting_and_an_uploaded_one_share_a_job_in_order(service):
    """The host kit's client sends styles as one ordered list: a name as a text part, an
    upload as a file part; the masks follow that order."""
    c = service.client
    options = {"size": W, "iterations": 20, "scales": 1}

    def job(masks):
        job_id = c.submit(
            encoded(PHOTO), styles=["starry_night", RED], style_masks=masks, options=options
        )
        width, height, mode, pixels = decode_png(c.wait(job_id))
        return np.frombuffer(bytes(pixels), np.uint8).reshape(height, width, len(mode))[..., :3]

    a, b = job([half("left"), half("right")]), job([half("right"), half("left")])
    m = W // 2 - 6
    assert redness(a[:, -m:]) > redness(a[:, :m]) + 40  # the red upload took the right half
    assert redness(b[:, :m]) > redness(b[:, -m:]) + 40


def test_an_unknown_library_name_among_the_styles_is_one_sentence(service):
    before = len(service.jobs())
    with pytest.raises(client.ServiceError) as info:
        service.client.submit(encoded(PHOTO), styles=[RED, "no_such_painting"])
    assert info.value.status == 400 and "starry_night" in str(info.value)
    one_sentence(str(info.value))
    assert len(service.jobs()) == before
