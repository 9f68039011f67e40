"""Receptive field and jump against values worked out by hand, through skip connections."""

from __future__ import annotations

from resnet_inspect.analysis.receptive import layer_fields
from resnet_inspect.analysis.records import Level


def _analyze(inputs, outputs):
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.walk import analyze

    return analyze(keras.Model(inputs, outputs, name="chain"))


def test_small_chain_by_hand() -> None:
    from resnet_inspect._tf import keras

    layers = keras.layers
    x = keras.Input((64, 64, 3), name="input")
    a = layers.Conv2D(4, 3, padding="same", name="a")(x)
    b = layers.Conv2D(4, 3, strides=2, padding="same", name="b")(a)
    p = layers.ZeroPadding2D(1, name="pad")(b)
    c = layers.MaxPooling2D(2, name="pool")(p)  # strides=None: the pool size
    d = layers.Conv2D(4, 3, dilation_rate=2, padding="same", name="dilated")(c)
    g = layers.GlobalAveragePooling2D(name="gap")(d)
    report = _analyze(x, layers.Dense(2, name="dense")(g))
    fields = layer_fields(report.layers)
    got = {name: (f.size, f.jump) for name, f in fields.items()}
    assert got["input"] == ((1, 1), (1, 1))
    assert got["a"] == ((3, 3), (1, 1))  # 1 + (3 - 1) * 1
    assert got["b"] == ((5, 5), (2, 2))  # 3 + (3 - 1) * 1, jump 1 * 2
    assert got["pad"] == ((5, 5), (2, 2))  # padding moves the window, not its size
    assert got["pool"] == ((7, 7), (4, 4))  # 5 + (2 - 1) * 2, jump 2 * 2
    assert got["dilated"] == ((23, 23), (4, 4))  # effective kernel 2 * (3 - 1) + 1 = 5: 7 + (5 - 1) * 4
    # d is 17x17 (64 -> 32 -> 34 -> 17): the global pool is a 17x17 window, 23 + (17 - 1) * 4
    assert report.layer("dilated").output_shape == (17, 17, 4)
    assert got["gap"] == ((87, 87), (4, 4))
    assert got["dense"] == ((87, 87), (4, 4))


def test_skip_connection_takes_the_largest_path() -> None:
    from resnet_inspect._tf import keras

    layers = keras.layers
    x = keras.Input((32, 32, 8), name="input")
    long = layers.Conv2D(8, 3, padding="same", name="long1")(x)
    long = layers.Conv2D(8, 5, padding="same", name="long2")(long)  # 1 + 2 + 4 = 7
    short = layers.Conv2D(8, 1, name="short")(x)  # 1
    added = layers.Add(name="add")([short, long])  # the short path first: the order must not matter
    report = _analyze(x, layers.Conv2D(8, 3, padding="same", name="after")(added))
    fields = layer_fields(report.layers)
    assert fields["short"].size == (1, 1)
    assert fields["long2"].size == (7, 7)
    assert fields["add"].size == (7, 7)
    assert fields["after"].size == (9, 9)  # 7 + (3 - 1) * 1


def test_non_square_kernels_keep_their_axes() -> None:
    from resnet_inspect._tf import keras

    x = keras.Input((20, 30, 1), name="input")
    y = keras.layers.Conv2D(1, (1, 5), strides=(1, 2), name="wide")(x)
    report = _analyze(x, keras.layers.Conv2D(1, (3, 1), name="tall")(y))
    fields = layer_fields(report.layers)
    assert fields["wide"].size == (1, 5) and fields["wide"].jump == (1, 2)
    assert fields["tall"].size == (3, 5)  # height 1 + 2 * 1, width unchanged
    row = report.rows(Level.LAYER)[-1]
    assert (row.receptive_field, row.jump) == (5, 2)  # the table shows the larger side


def test_unknown_layer_makes_the_rest_unknown() -> None:
    from resnet_inspect._tf import keras

    x = keras.Input((16, 16, 1), name="input")
    y = keras.layers.Conv2D(1, 3, name="conv")(x)
    y = keras.layers.UpSampling2D(name="up")(y)  # no receptive-field formula here
    report = _analyze(x, keras.layers.Conv2D(1, 3, name="after")(y))
    fields = layer_fields(report.layers)
    assert fields["conv"].size == (3, 3)
    assert fields["up"] is None and fields["after"] is None
    rows = {r.name: r for r in report.rows(Level.LAYER)}
    assert rows["after"].receptive_field is None and rows["after"].jump is None


# ResNet-18 v2 by hand. Stem: 7x7/2 conv: 7, jump 2; 3x3/2 pool: 7 + 2 * 2 = 11, jump 4.
# Each regular block has two 3x3 convs, each adding 2 * jump; the first of block layers 2-4 has
# stride 2 (in its first conv), so its second conv already sees the doubled jump.
RESNET18 = {
    "stem": (11, 4),
    "block_layer1.regular_block0": (11 + 2 * 4 + 2 * 4, 4),  # 27
    "block_layer1": (27 + 2 * 4 + 2 * 4, 4),  # 43
    "block_layer2.regular_block0": (43 + 2 * 4 + 2 * 8, 8),  # 67
    "block_layer2": (67 + 2 * 8 + 2 * 8, 8),  # 99
    "block_layer3.regular_block0": (99 + 2 * 8 + 2 * 16, 16),  # 147
    "block_layer3": (147 + 2 * 16 + 2 * 16, 16),  # 211
    "block_layer4.regular_block0": (211 + 2 * 16 + 2 * 32, 32),  # 307
    "block_layer4": (307 + 2 * 32 + 2 * 32, 32),  # 435
    "head": (435 + (7 - 1) * 32, 32),  # the 7x7 average pool over the last map: 627
}


def test_resnet18_by_hand(build) -> None:
    _, _, report = build(18)
    rows = {r.name: (r.receptive_field, r.jump) for level in ("block", "stage") for r in report.rows(level)}
    for name, expected in RESNET18.items():
        assert rows[name] == expected, name
    layers = {r.name: (r.receptive_field, r.jump) for r in report.rows("layer")}
    # inside the first block of block layer 2: the shortcut sees only the pre-activated block input
    assert layers["block_layer2.regular_block0.shortcut"] == (43, 8)  # 1x1/2: 43 + 0, jump 4 * 2
    assert layers["block_layer2.regular_block0.conv1"] == (43 + 2 * 4, 8)
    assert layers["block_layer2.regular_block0.add"] == (67, 8)  # max(67, 43)


def test_resnet50_v2_strides_in_the_3x3(build) -> None:
    """v2 (the seeds) strides in the 3x3 conv: each bottleneck block adds one 3x3, 2 * jump."""
    _, _, report = build(50)
    stages = {r.name: (r.receptive_field, r.jump) for r in report.rows("stage")}
    # 11 (stem) + 3 * 8 = 35; block layer 2: 35 + 8 (3x3 at jump 4, stride 2) + 3 * 16 = 91;
    # 91 + 16 + 5 * 32 = 267; 267 + 32 + 2 * 64 = 427
    assert stages["block_layer1"] == (35, 4)
    assert stages["block_layer2"] == (91, 8)
    assert stages["block_layer3"] == (267, 16)
    assert stages["block_layer4"] == (427, 32)


def test_resnet50_v1_last_stage_is_483(build) -> None:
    """The paper's v1 strides in the first 1x1 of a bottleneck block: the published 483."""
    _, _, report = build(50, version="v1")
    stages = {r.name: (r.receptive_field, r.jump) for r in report.rows("stage")}
    # 11 + 3 * 8 = 35; 35 + 3 * 16 + 16 = 99 (the 1x1/2 adds nothing but doubles the jump first);
    # 99 + 32 + 5 * 32 = 291; 291 + 64 + 2 * 64 = 483
    assert stages["block_layer4"] == (483, 32)


def test_keras_applications_resnet50_is_483_too() -> None:
    """Keras' own ResNet50 (v1, stride in the first 1x1, explicit ZeroPadding) is built by code nobody here
    wrote: its conv5 stage sees the published 483 pixels."""
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.inspection import inspect_model

    report = inspect_model(keras.applications.ResNet50(weights=None))
    stages = {r.name: (r.receptive_field, r.jump) for r in report.rows("stage")}
    assert stages["conv5"] == (483, 32)
    assert stages["conv4"] == (291, 16)
