"""VGG19 built with Keras's layer names, truncated at the deepest layer a job uses."""

from __future__ import annotations

from collections.abc import Sequence

from .vgg_layers import CONV_LAYERS

# Keras's Caffe-style preprocessing for VGG: BGR order, ImageNet mean subtracted.
BGR_MEAN = (103.939, 116.779, 123.68)

# relu4_2 and block4_conv2 name the same output (Keras convs carry their relu).
_ALIASES = {
    f"relu{block}_{index}": f"block{block}_conv{index}"
    for block, index in ((int(n[5]), int(n[-1])) for n, _, _ in CONV_LAYERS)
}
_ORDER = [name for name, _, _ in CONV_LAYERS]


def layer_name(name: str) -> str:
    """Keras's name for a layer given as `block4_conv2` or `relu4_2`; ValueError if unknown."""
    name = _ALIASES.get(name, name)
    if name not in _ORDER:
        raise ValueError(f"unknown VGG19 layer {name!r}; use names like relu4_2 or block4_conv2.")
    return name


def conv_layers_up_to(names: Sequence[str]) -> list[str]:
    """The conv layers from the input to the deepest of `names`, in order."""
    deepest = max(_ORDER.index(layer_name(n)) for n in names)
    return _ORDER[: deepest + 1]


def build(outputs: Sequence[str], weights: dict, pooling: str = "max", precision: str = "float32"):
    """A Keras model from an RGB 0..255 image (any size) to the features of `outputs`.

    `weights` maps each conv layer name to (kernel, bias), as `weights.load` returns.
    Preprocessing is part of the model: it takes RGB 0..255 as the optimizer sees it.
    precision "mixed" runs the convolutions in bfloat16 (same range as float32, so no
    overflow to inf) with float32 weights; the losses cast features back to float32.
    """
    import keras

    outputs = [layer_name(n) for n in outputs]
    needed = conv_layers_up_to(outputs)
    pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
    dtype = "mixed_bfloat16" if precision == "mixed" else "float32"
    image = keras.Input(shape=(None, None, 3), name="image")
    x = preprocess(image)
    found = {}
    for name, _, channels in CONV_LAYERS:
        if name not in needed:
            break
        block = name[5]
        if name != "block1_conv1" and name.endswith("conv1"):
            x = pool((2, 2), strides=(2, 2), name=f"block{int(block) - 1}_pool", dtype=dtype)(x)
        layer = keras.layers.Conv2D(
            channels,
            (3, 3),
            activation="relu",
            padding="same",
            name=name,
            trainable=False,
            dtype=dtype,
        )
        x = layer(x)
        layer.set_weights(list(weights[name]))
        found[name] = x
    model = keras.Model(image, [found[n] for n in dict.fromkeys(outputs)], name="vgg19")
    model.trainable = False
    return model


def preprocess(x):
    """RGB 0..255 (batch, h, w, 3) to the BGR, mean-subtracted input VGG19 was trained on."""
    from keras import ops

    return ops.flip(x, axis=-1) - ops.convert_to_tensor(BGR_MEAN, dtype=x.dtype)


def truncated(model, names: Sequence[str]):
    """A model sharing `model`'s layers that stops at the deepest of `names` and outputs
    their features: computing only what content targets use."""
    import keras

    names = [layer_name(n) for n in names]
    unique = list(dict.fromkeys(names))
    outputs = [model.get_layer(n).output for n in unique]
    sub = keras.Model(model.inputs, outputs, name="vgg19_content")
    if len(unique) == len(names):
        return sub
    order = [unique.index(n) for n in names]
    return keras.Model(model.inputs, [sub.outputs[i] for i in order], name="vgg19_content")
