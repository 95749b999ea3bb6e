"""VGG19's convolution layers: names, channels, and where Keras publishes their weights."""

from __future__ import annotations

from collections.abc import Sequence

VGG19_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_FILE
VGG19_MD5 = "253f8cb515780f3b799900260a226db6"

CONV_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("block1_conv1", 3, 64),
    ("block1_conv2", 64, 64),
    ("block2_conv1", 64, 128),
    ("block2_conv2", 128, 128),
    ("block3_conv1", 128, 256),
    ("block3_conv2", 256, 256),
    ("block3_conv3", 256, 256),
    ("block3_conv4", 256, 256),
    ("block4_conv1", 256, 512),
    ("block4_conv2", 512, 512),
    ("block4_conv3", 512, 512),
    ("block4_conv4", 512, 512),
    ("block5_conv1", 512, 512),
    ("block5_conv2", 512, 512),
    ("block5_conv3", 512, 512),
    ("block5_conv4", 512, 512),
)
"""(name, in_channels, out_channels) of VGG19's convolution layers, in order."""

CHANNELS: dict[str, tuple[int, int]] = {n: (i, o) for n, i, o in CONV_LAYERS}


def check_layers(layers: Sequence[str]) -> list[str]:
    if isinstance(layers, str):
        layers = [layers]
    names = list(dict.fromkeys(layers))
    unknown = [n for n in names if n not in CHANNELS]
    if unknown:
        raise ValueError(
            f"unknown VGG19 conv layer(s) {unknown}; expected names like "
            f"'block1_conv1' ... 'block5_conv4'"
        )
    return names
