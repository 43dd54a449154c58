"""`keras_senet.analysis`: SE into keras.applications CNNs (`add_attention`), the gates read out per class
(`excitations`), and the run's pictures. The quickstart test runs the `excitations` CLI on a trained model."""

import json

import keras
import numpy as np
import pytest

import keras_senet as ks
from keras_senet.analysis import add_attention, attention_overhead, excitations, insertion_points
from keras_senet.layers import EffectiveSqueezeExcite, ScaledAttention, get_attention, list_attention
from images import assert_picture
from readme import run_python_block
from test_layers import NP_GATES, built_layer, np_dense, reference_eca, reference_ese, reference_se, weights_f64

SIZE = 32
A = keras.applications
# Backbones without their classifier (VGG16's 4096-wide top is 19M parameters to initialise and copy).
SMALL = dict(weights=None, input_shape=(SIZE, SIZE, 3), include_top=False, pooling="avg")

# model -> (builder, insertion points with where="auto", the first of them): where the SE paper puts SE.
MODELS = {
    # ResNet: the residual branch's last BatchNorm before the add, 3 + 4 + 6 + 3 blocks
    "ResNet50": (lambda: A.ResNet50(**SMALL), 16, "conv2_block1_3_bn"),
    "ResNet101": (lambda: A.ResNet101(**SMALL), 33, "conv2_block1_3_bn"),
    # pre-activation: the residual branch ends at its last conv
    "ResNet50V2": (lambda: A.ResNet50V2(**SMALL), 16, "conv2_block1_3_conv"),
    # inverted residuals: every block's linear bottleneck (17 blocks, 10 of them with a shortcut)
    "MobileNetV2": (lambda: A.MobileNetV2(alpha=0.35, **SMALL), 17, "expanded_conv_project_BN"),
    "EfficientNetB0": (lambda: A.EfficientNetB0(**SMALL), 16, "block1a_project_bn"),
    # dense layers: the 32 new channels each layer concatenates, 6 + 12 + 24 + 16
    "DenseNet121": (lambda: A.DenseNet121(**SMALL), 58, "conv2_block1_2_conv"),
    # plain: the last conv before each pooling
    "VGG16": (lambda: A.VGG16(**SMALL), 5, "block1_conv2"),
    "resnet50 (keras-senet)": (lambda: ks.create_model("resnet50", input_shape=(SIZE, SIZE, 3), classes=10,
                                                       classifier_activation=None), 16, "layer1_0_bn3"),
}
X = np.random.default_rng(0).standard_normal((2, SIZE, SIZE, 3)).astype("float32")


def test_insertion_points_of_resnet101():
    """ResNet50's code with 23 blocks in stage 4 instead of 6 (the surgery itself is tested on ResNet50)."""
    points = insertion_points(A.ResNet101(**SMALL))
    assert len(points) == 3 + 4 + 23 + 3 and all(point.endswith("_3_bn") for point in points)


@pytest.mark.parametrize("name", [name for name in MODELS if name != "ResNet101"])
def test_add_attention_keeps_function_and_weights(name):
    build, count, first = MODELS[name]
    model = build()
    points = insertion_points(model)
    assert len(points) == count and points[0] == first, points

    new = add_attention(model, "se", preserve_function=True)
    blocks = [layer for layer in new.layers if isinstance(layer, ScaledAttention)]
    assert [layer.name for layer in blocks] == [f"{point}_se" for point in points]
    for block in blocks:  # right after its layer, on its output
        assert block.input is new.get_layer(block.name[:-3]).output

    # Every original weight copied, none shared: training the new model leaves the original alone.
    assert not {id(v) for v in model.weights} & {id(v) for v in new.weights}
    for layer in model.layers:
        for mine, theirs in zip(layer.get_weights(), new.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)

    expected = keras.ops.convert_to_numpy(model(X, training=False))
    scale = np.max(np.abs(expected))  # random MobileNetV2 / EfficientNet features are tiny (1e-10)
    assert scale > 0
    assert np.max(np.abs(keras.ops.convert_to_numpy(new(X, training=False)) - expected)) <= 1e-6 * scale
    for block in blocks:  # the blocks are live: once their scales move, so does the output
        block.scale.assign(1.0)
    assert np.max(np.abs(keras.ops.convert_to_numpy(new(X, training=False)) - expected)) > 1e-3 * scale


def _small_cnn():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    y = keras.layers.Conv2D(16, 3, padding="same", name="conv")(x)
    y = keras.layers.BatchNormalization(name="bn")(y)
    x = keras.layers.ReLU(name="out_relu")(keras.layers.Add(name="add")([x, y]))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="fc")(x), name="small")


@pytest.mark.parametrize("attention", list_attention())
def test_add_attention_every_kind_counts_its_overhead_and_survives_saving(attention, tmp_path):
    model = _small_cnn()
    new = add_attention(model, attention, preserve_function=True)
    assert insertion_points(model) == ["bn"]
    path = tmp_path / "model.keras"
    new.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(X), model(X), atol=1e-6)
    block = new.get_layer(f"bn_{attention}")
    overhead = attention_overhead(model, new)
    assert overhead["blocks"] == 1
    assert overhead["params_added"] == block.count_params() > 0
    assert overhead["macs_added"] == block.attention.macs((None, SIZE, SIZE, 16)) > 0
    assert overhead["params"] == model.count_params()


def test_add_attention_without_preserving_is_plain_se_with_its_arguments():
    model = _small_cnn()
    new = add_attention(model, "se", where=["stem_relu", "bn"], rd_channels=4, gate="hard_sigmoid")
    blocks = [layer for layer in new.layers if layer.name.endswith("_se")]
    assert [(b.name, b.fc1.units, b.gate) for b in blocks] == [("stem_relu_se", 4, "hard_sigmoid"), ("bn_se", 4, "hard_sigmoid")]
    assert np.max(np.abs(keras.ops.convert_to_numpy(new(X)) - keras.ops.convert_to_numpy(model(X)))) > 1e-4
    assert insertion_points(model, where=lambda layer: isinstance(layer, keras.layers.ReLU)) == ["stem_relu", "out_relu"]


def test_add_attention_rejects_bad_arguments():
    model = _small_cnn()
    with pytest.raises(ValueError, match="name='nope'"):
        add_attention(model, "nope")
    with pytest.raises(ValueError, match="where='everywhere'"):
        add_attention(model, "se", where="everywhere")
    with pytest.raises(ValueError, match=r"no layer named \['missing'\]"):
        add_attention(model, "se", where=["missing"])
    with pytest.raises(ValueError, match="rd_ratio=-1"):
        add_attention(model, "se", rd_ratio=-1)
    with pytest.raises(ValueError, match="found no insertion point"):
        add_attention(model, "se", where="dense")
    with pytest.raises(ValueError, match="not a functional keras.Model"):
        add_attention(keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1)]), "se")


# The gate each layer reports against float64 NumPy: positive inputs, so the reference output divided by
# the input is the channel gate (SE, eSE, ECA); CBAM's and scSE's channel gates written out.
def _cbam_gate(x, w):
    def mlp(v):
        return np_dense(np.maximum(np_dense(v, w, "fc1"), 0.0), w, "fc2")
    return NP_GATES["sigmoid"](mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))


GATES = {
    "se": lambda x, w: reference_se(x, w)[:, 0, 0] / x[:, 0, 0],
    "ese": lambda x, w: reference_ese(x, w)[:, 0, 0] / x[:, 0, 0],
    "eca": lambda x, w: reference_eca(x, w)[:, 0, 0] / x[:, 0, 0],
    "ceca": lambda x, w: reference_eca(x, w, circular=True)[:, 0, 0] / x[:, 0, 0],
    "cbam": _cbam_gate,
    "scse": lambda x, w: NP_GATES["sigmoid"](np_dense(np.maximum(np_dense(x.mean(axis=(1, 2)), w, "cse_fc1"), 0.0),
                                                      w, "cse_fc2")),
}


# Attention layers without one per-channel gate of their input, so without `excitation`: selective kernel and
# split attention weigh branches (a softmax over paths per channel), global context adds and scales by an
# MLP of an attention-pooled context (its scale is optional). `excitations` passes them by.
NO_CHANNEL_GATE = {"sk", "splat", "gc"}


def test_every_attention_layer_has_its_gate_checked_or_is_declared_without_one():
    assert set(list_attention()) == set(GATES) | NO_CHANNEL_GATE
    for name in NO_CHANNEL_GATE:
        assert not hasattr(get_attention(name), "excitation"), name


@pytest.mark.parametrize("attention", sorted(GATES))
def test_excitation_is_the_gate_the_layer_multiplies_by(attention):
    x = (1.0 + np.abs(np.random.default_rng(1).standard_normal((2, 5, 5, 64)))).astype("float32")
    layer = built_layer(attention, input_shape=x.shape)
    gate = keras.ops.convert_to_numpy(layer.excitation(x))
    np.testing.assert_allclose(gate, GATES[attention](x.astype("float64"), weights_f64(layer)), atol=1e-5)
    wrapped = ScaledAttention(layer)
    wrapped.build(x.shape)
    wrapped.scale.assign(0.25)  # the effective gate of the blend: 1 + 0.25 (g - 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapped.excitation(x)), 1 + 0.25 * (gate - 1), atol=1e-6)


def _probe_model():
    """Two eSE layers with identity fc and sigmoid gate (gate = sigmoid(channel mean)): one sees channels
    0-1 of the input (the class signal), the other channels 2-3 (noise)."""
    inputs = keras.Input((8, 8, 4))
    layers = []
    for name, start in (("noise_ese", 2), ("class_ese", 0)):
        picked = keras.layers.Lambda(lambda t, s=start: t[..., s:s + 2], output_shape=(8, 8, 2))(inputs)
        layer = EffectiveSqueezeExcite(gate="sigmoid", name=name)
        layers.append(layer(picked))
        layer.fc.kernel.assign(np.eye(2, dtype="float32"))
        layer.fc.bias.assign(np.zeros(2, dtype="float32"))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Concatenate()(layers[::-1]))
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def test_excitations_per_class_and_their_specificity():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    images = rng.normal(0.0, 0.5, (120, 8, 8, 4)).astype("float32")
    images[..., :2] += labels[:, None, None, None] - 1.0  # class k: channels 0-1 centred on k - 1
    one_hot = np.eye(3)[labels]
    batches = [(images[i:i + 32], one_hot[i:i + 32]) for i in range(0, 120, 32)]
    result = excitations(_probe_model(), batches, class_names=["a", "b", "c"])

    assert sorted(result.layers) == ["class_ese", "noise_ese"] and list(result.counts) == [40, 40, 40]
    means = images.mean(axis=(1, 2))  # (120, 4): the float64 reference of the gates
    gates = {"class_ese": 1 / (1 + np.exp(-means[:, :2])), "noise_ese": 1 / (1 + np.exp(-means[:, 2:]))}
    for name, gate in gates.items():
        for k in range(3):
            np.testing.assert_allclose(result.mean[name][k], gate[labels == k].mean(0), atol=1e-6)
            np.testing.assert_allclose(result.std[name][k], gate[labels == k].std(0), atol=1e-6)
    assert result.specificity["class_ese"] > 50 > 1 > 0.2 > result.specificity["noise_ese"]

    again = json.loads(result.to_json())
    assert [layer["name"] for layer in again["layers"]] == result.layers
    assert again["class_names"] == ["a", "b", "c"]
    position = result.layers.index("class_ese")
    np.testing.assert_allclose(again["layers"][position]["mean"], result.mean["class_ese"], atol=1e-6)
    table = result.table().splitlines()
    assert len(table) == 3 and table[1 + position].split()[1] == "class_ese"
    assert float(table[1 + position].split()[-1]) == pytest.approx(result.specificity["class_ese"], abs=1e-3)

    only_ten = excitations(_probe_model(), batches, max_examples=10)
    assert list(only_ten.counts) == [10] and only_ten.class_names == ["0"]
    with pytest.raises(ValueError, match="has no attention layer"):
        excitations(_small_cnn(), batches)
    with pytest.raises(ValueError, match="max_examples=0"):
        excitations(_probe_model(), batches, max_examples=0)


def test_excitation_figure_and_pictures_without_matplotlib(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    images = rng.normal(0.0, 0.5, (30, 8, 8, 4)).astype("float32")
    result = excitations(_probe_model(), [(images, np.arange(30) % 3)])
    result.plot(tmp_path / "fig.png")
    assert_picture(tmp_path / "fig.png")

    from keras_senet.analysis import plots
    from keras_senet.training.pictures import write_pictures

    monkeypatch.setattr(plots, "have_matplotlib", lambda: False)
    assert write_pictures(str(tmp_path / "run"), {"epoch": [1], "loss": [1.0]}) == []
    assert capsys.readouterr().out.strip() == (
        "Learning curves and confusion matrix skipped: matplotlib is not installed (pip install 'keras-senet[plots]').")


def test_readme_example_runs():
    namespace = run_python_block("ks.add_attention(base", {})
    base, model, tuned = namespace["base"], namespace["model"], namespace["tuned"]
    assert attention_overhead(base, model)["blocks"] == 17 and attention_overhead(base, tuned)["blocks"] == 10
    assert namespace["hard"].get_layer("block_16_project_BN_se").gate == "hard_sigmoid"
    x = np.random.default_rng(0).standard_normal((1, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(tuned(x), base(x), atol=1e-6)
