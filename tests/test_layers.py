"""Tests for keras_senet.layers.

Every attention layer is checked for shape/dtype, serialization, layout
(channels_first vs channels_last), argument validation, against an
independent float64 NumPy implementation, and against timm's PyTorch module
with the same weights. Runs on whichever Keras backend KERAS_BACKEND selects.
"""

import itertools

# torch / timm must be imported before keras: with the TensorFlow backend,
# importing triton (pulled in by timm -> torchvision -> torch._dynamo) after
# TensorFlow segfaults the interpreter.
import torch  # isort: skip
from timm.layers.cbam import CbamModule  # isort: skip
from timm.layers.eca import CecaModule, EcaModule  # isort: skip
from timm.layers.global_context import GlobalContext as TimmGlobalContext  # isort: skip
from timm.layers.helpers import make_divisible as timm_make_divisible  # isort: skip
from timm.layers.selective_kernel import SelectiveKernel as TimmSelectiveKernel  # isort: skip
from timm.layers.split_attn import SplitAttn  # isort: skip
from timm.layers.squeeze_excite import EffectiveSEModule, SEModule  # isort: skip

import keras
import numpy as np
import pytest

from keras_senet.layers import (
    ATTENTION_LAYERS,
    CBAM,
    EffectiveSqueezeExcite,
    EfficientChannelAttention,
    GlobalContext,
    SelectiveKernel,
    SpatialChannelSqueezeExcite,
    SplitAttention,
    SqueezeExcite,
    get_attention,
    list_attention,
    make_divisible,
)
from keras_senet.layers.eca import eca_kernel_size
from keras_senet.weights.timm_convert import load_timm_state_dict
from randomise import randomise_weights
from timm_reference import timm_hook_macs

ATOL = 1e-5
CHANNELS = 64
INPUT_SHAPE = (2, 7, 9, CHANNELS)  # (batch, height, width, channels)
ATTENTION_NAMES = list_attention()

# Weight paths (relative to the layer name) that the timm checkpoint converter relies on.
EXPECTED_WEIGHTS = {
    "se": {"fc1/kernel": (64, 8), "fc1/bias": (8,), "fc2/kernel": (8, 64), "fc2/bias": (64,)},
    "ese": {"fc/kernel": (64, 64), "fc/bias": (64,)},
    "eca": {"conv/kernel": (3, 1, 1)},
    "ceca": {"conv/kernel": (3, 1, 1)},
    "cbam": {
        "fc1/kernel": (64, 4),
        "fc2/kernel": (4, 64),
        "spatial_conv/kernel": (7, 7, 2, 1),
        "spatial_bn/gamma": (1,),
        "spatial_bn/beta": (1,),
        "spatial_bn/moving_mean": (1,),
        "spatial_bn/moving_variance": (1,),
    },
    "scse": {
        "cse_fc1/kernel": (64, 4),
        "cse_fc1/bias": (4,),
        "cse_fc2/kernel": (4, 64),
        "cse_fc2/bias": (64,),
        "sse_conv/kernel": (64, 1),
        "sse_conv/bias": (1,),
    },
    "gc": {
        "conv_attn/kernel": (64, 1),
        "conv_attn/bias": (1,),
        **{f"mlp_scale/{path}": shape for path, shape in (
            ("fc1/kernel", (64, 8)), ("fc1/bias", (8,)), ("norm/gamma", (8,)), ("norm/beta", (8,)),
            ("fc2/kernel", (8, 64)), ("fc2/bias", (64,)))},
    },
    "sk": {  # two branches on half the input channels each, attention width make_divisible(64 / 16) = 8
        **{f"paths_{i}/{path}": shape for i in range(2) for path, shape in (
            ("conv/kernel", (3, 3, 32, 64)), ("bn/gamma", (64,)), ("bn/beta", (64,)),
            ("bn/moving_mean", (64,)), ("bn/moving_variance", (64,)))},
        "attn/fc_reduce/kernel": (64, 8),
        **{f"attn/bn/{v}": (8,) for v in ("gamma", "beta", "moving_mean", "moving_variance")},
        "attn/fc_select/kernel": (8, 128),
    },
    "splat": {  # radix 2: conv to 2 x 64 channels in 2 groups, attention width max(64 * 2 / 4, 32) = 32
        "conv/kernel": (3, 3, 32, 128),
        **{f"bn0/{v}": (128,) for v in ("gamma", "beta", "moving_mean", "moving_variance")},
        "fc1/kernel": (1, 1, 64, 32),
        "fc1/bias": (32,),
        **{f"bn1/{v}": (32,) for v in ("gamma", "beta", "moving_mean", "moving_variance")},
        "fc2/kernel": (1, 1, 32, 128),
        "fc2/bias": (128,),
    },
}


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------


def to_numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def random_input(shape=INPUT_SHAPE, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def relative_path(variable):
    """'layer_name/fc1/kernel' -> 'fc1/kernel'."""
    return variable.path.split("/", 1)[1]


def built_layer(name, input_shape=INPUT_SHAPE, seed=0, **kwargs):
    layer = get_attention(name, **kwargs)
    layer.build(input_shape)
    randomise_weights(layer, seed)
    return layer


def weights_f64(layer):
    """{relative path: float64 array} of a layer's weights."""
    return {relative_path(v): to_numpy(v).astype(np.float64) for v in layer.weights}


def assert_close(actual, expected, atol=ATOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    max_diff = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
    assert max_diff <= atol, f"max abs diff {max_diff:.3g} > {atol}"


# ----------------------------------------------------------------------------
# Independent float64 NumPy references (channels_last input)
# ----------------------------------------------------------------------------


def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


NP_GATES = {
    "sigmoid": np_sigmoid,
    "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}
NP_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "silu": lambda z: z * np_sigmoid(z),
}


def np_global_pool(x, mode):
    if mode == "avg":
        return x.mean(axis=(1, 2))
    if mode == "max":
        return x.max(axis=(1, 2))
    return 0.5 * x.mean(axis=(1, 2)) + 0.5 * x.max(axis=(1, 2))


def np_dense(v, w, prefix):
    return v @ w[f"{prefix}/kernel"] + w.get(f"{prefix}/bias", 0.0)


def np_conv2d_same(image, kernel):
    """Zero-padded stride-1 cross-correlation: (B, H, W, Cin) * (k, k, Cin, Cout)."""
    k = kernel.shape[0]
    pad = (k - 1) // 2
    _, height, width, _ = image.shape
    padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = 0.0
    for i in range(k):
        for j in range(k):
            out = out + padded[:, i : i + height, j : j + width, :] @ kernel[i, j]
    return out


def reference_se(x, w, squeeze="avg", activation="relu", gate="sigmoid"):
    hidden = NP_ACTIVATIONS[activation](np_dense(np_global_pool(x, squeeze), w, "fc1"))
    return x * NP_GATES[gate](np_dense(hidden, w, "fc2"))[:, None, None, :]


def reference_ese(x, w, squeeze="avg", gate="hard_sigmoid"):
    return x * NP_GATES[gate](np_dense(np_global_pool(x, squeeze), w, "fc"))[:, None, None, :]


def reference_eca(x, w, circular=False, gate="sigmoid"):
    descriptor = x.mean(axis=(1, 2))  # (B, C)
    kernel = w["conv/kernel"][:, 0, 0]
    pad = (len(kernel) - 1) // 2
    padded = np.pad(descriptor, ((0, 0), (pad, pad)), mode="wrap" if circular else "constant")
    channels = descriptor.shape[1]
    logits = sum(kernel[j] * padded[:, j : j + channels] for j in range(len(kernel)))
    return x * NP_GATES[gate](logits)[:, None, None, :]


def reference_cbam(x, w, activation="relu", gate="sigmoid", batch_stats=False):
    """batch_stats: normalize with the batch's statistics (training) instead of the moving ones."""
    act, gate_fn = NP_ACTIVATIONS[activation], NP_GATES[gate]

    def mlp(v):
        return np_dense(act(np_dense(v, w, "fc1")), w, "fc2")

    x = x * gate_fn(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))[:, None, None, :]
    pooled = np.stack([x.mean(axis=-1), x.max(axis=-1)], axis=-1)
    logits = np_conv2d_same(pooled, w["spatial_conv/kernel"])
    if batch_stats:
        mean, var = logits.mean(), logits.var()  # biased variance, as both frameworks normalize
    else:
        mean, var = w["spatial_bn/moving_mean"], w["spatial_bn/moving_variance"]
    normed = (logits - mean) / np.sqrt(var + 1e-5) * w["spatial_bn/gamma"] + w["spatial_bn/beta"]
    return x * gate_fn(normed)


def reference_scse(x, w):
    hidden = np.maximum(np_dense(x.mean(axis=(1, 2)), w, "cse_fc1"), 0.0)
    channel_gate = np_sigmoid(np_dense(hidden, w, "cse_fc2"))[:, None, None, :]
    spatial_gate = np_sigmoid(np_dense(x, w, "sse_conv"))  # (B, H, W, 1)
    return x * channel_gate + x * spatial_gate


# ----------------------------------------------------------------------------
# Generic behaviour, swept over every attention name
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_output_shape_and_dtype(name):
    layer = get_attention(name)
    x = random_input()
    y = layer(x)
    assert tuple(y.shape) == INPUT_SHAPE
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert layer.compute_output_shape((None, 7, 9, CHANNELS)) == (None, 7, 9, CHANNELS)
    symbolic = layer(keras.Input(shape=INPUT_SHAPE[1:]))
    assert tuple(symbolic.shape) == (None,) + INPUT_SHAPE[1:]


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_float64_layer_returns_float64(name):
    layer = get_attention(name, dtype="float64")
    y = layer(random_input().astype("float64"))
    assert keras.backend.standardize_dtype(y.dtype) == "float64"
    assert all(keras.backend.standardize_dtype(v.dtype) == "float64" for v in layer.weights)


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_weight_paths_and_shapes(name):
    layer = get_attention(name, name="attn")
    layer.build(INPUT_SHAPE)
    expected = {f"attn/{path}": shape for path, shape in EXPECTED_WEIGHTS[name].items()}
    assert {v.path: tuple(v.shape) for v in layer.weights} == expected


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_config_round_trip(name):
    layer = built_layer(name)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone.build(INPUT_SHAPE)
    clone.set_weights(layer.get_weights())
    x = random_input()
    np.testing.assert_array_equal(to_numpy(clone(x)), to_numpy(layer(x)))


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_keras_file_save_load(name, tmp_path):
    inputs = keras.Input(shape=INPUT_SHAPE[1:])
    layer = get_attention(name)
    model = keras.Model(inputs, layer(inputs))
    randomise_weights(layer, seed=1)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)

    loaded_layer = loaded.layers[-1]
    assert type(loaded_layer) is type(layer)
    assert loaded_layer.get_config() == layer.get_config()
    assert [v.path for v in loaded.weights] == [v.path for v in model.weights]
    x = random_input(seed=2)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_channels_first_is_transposed_channels_last(name):
    last = built_layer(name, data_format="channels_last")
    first = get_attention(name, data_format="channels_first")
    first.build((2, CHANNELS, 7, 9))
    first.set_weights(last.get_weights())
    x = random_input()
    expected = to_numpy(last(x)).transpose(0, 3, 1, 2)
    assert_close(to_numpy(first(x.transpose(0, 3, 1, 2))), expected)


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_data_format_defaults_to_keras_config(name):
    original = keras.config.image_data_format()
    try:
        keras.config.set_image_data_format("channels_first")
        assert get_attention(name).data_format == "channels_first"
        keras.config.set_image_data_format("channels_last")
        assert get_attention(name).data_format == "channels_last"
    finally:
        keras.config.set_image_data_format(original)


@pytest.mark.parametrize("name", ATTENTION_NAMES)
@pytest.mark.parametrize("bad_shape", [(None, 9, CHANNELS), (None, 2, 7, 9, CHANNELS), (None, 7, 9, None)])
def test_build_rejects_non_4d_or_unknown_channels(name, bad_shape):
    with pytest.raises(ValueError, match="4-D|channel"):
        get_attention(name).build(bad_shape)


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_call_rejects_other_channel_count_after_build(name):
    layer = get_attention(name)
    layer.build(INPUT_SHAPE)
    with pytest.raises(ValueError):
        layer(random_input((2, 7, 9, CHANNELS // 2)))


# ----------------------------------------------------------------------------
# Factory
# ----------------------------------------------------------------------------


def test_list_attention_names():
    assert list_attention() == ["cbam", "ceca", "eca", "ese", "gc", "scse", "se", "sk", "splat"]
    assert list_attention() == sorted(ATTENTION_LAYERS)


@pytest.mark.parametrize(
    "name, cls, attrs",
    [
        ("se", SqueezeExcite, {}),
        ("SE", SqueezeExcite, {}),
        ("ese", EffectiveSqueezeExcite, {}),
        ("eca", EfficientChannelAttention, {"circular": False}),
        ("ceca", EfficientChannelAttention, {"circular": True}),
        ("cbam", CBAM, {}),
        ("scse", SpatialChannelSqueezeExcite, {}),
        ("gc", GlobalContext, {"use_attn": True, "fuse_scale": True, "fuse_add": False}),
        ("sk", SelectiveKernel, {"kernel_size": [3, 5], "split_input": True}),
        ("splat", SplitAttention, {"radix": 2, "groups": 1}),
    ],
)
def test_get_attention_returns_layer(name, cls, attrs):
    layer = get_attention(name)
    assert type(layer) is cls
    for attr, value in attrs.items():
        assert getattr(layer, attr) == value


def test_get_attention_forwards_kwargs():
    layer = get_attention("se", rd_ratio=0.25, gate="tanh", name="my_se")
    assert (layer.rd_ratio, layer.gate, layer.name) == (0.25, "tanh", "my_se")


@pytest.mark.parametrize("name", [None, ""])
def test_get_attention_none(name):
    assert get_attention(name) is None


@pytest.mark.parametrize("name", ["nonlocal", "squeeze", 3])
def test_get_attention_unknown_name_lists_valid_names(name):
    with pytest.raises(ValueError) as info:
        get_attention(name)
    message = str(info.value)
    assert repr(name) in message
    for valid in list_attention():
        assert repr(valid) in message


# ----------------------------------------------------------------------------
# Argument validation
# ----------------------------------------------------------------------------


def test_bad_choice_message_lists_allowed_values():
    with pytest.raises(ValueError) as info:
        SqueezeExcite(squeeze="sum")
    assert str(info.value) == "squeeze='sum' is not one of 'avg', 'max', 'avgmax'"


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (SqueezeExcite, {"squeeze": "sum"}),
        (SqueezeExcite, {"gate": "softmax"}),
        (SqueezeExcite, {"activation": "no_such_activation"}),
        (SqueezeExcite, {"rd_ratio": 0}),
        (SqueezeExcite, {"rd_channels": 0}),
        (SqueezeExcite, {"rd_divisor": 2.5}),
        (SqueezeExcite, {"data_format": "NHWC"}),
        (EffectiveSqueezeExcite, {"squeeze": "max"}),
        (EffectiveSqueezeExcite, {"gate": "swish"}),
        (EffectiveSqueezeExcite, {"data_format": "channels_middle"}),
        (EfficientChannelAttention, {"kernel_size": 4}),
        (EfficientChannelAttention, {"kernel_size": 0}),
        (EfficientChannelAttention, {"gamma": 0}),
        (EfficientChannelAttention, {"beta": "one"}),
        (EfficientChannelAttention, {"gate": "softmax"}),
        (CBAM, {"spatial_kernel_size": 6}),
        (CBAM, {"rd_divisor": -1}),
        (CBAM, {"rd_ratio": -0.5}),
        (CBAM, {"activation": 7}),
        (CBAM, {"gate": "linear"}),
        (SpatialChannelSqueezeExcite, {"reduction": 0}),
        (SpatialChannelSqueezeExcite, {"data_format": "nchw"}),
        (GlobalContext, {"rd_ratio": 0}),
        (GlobalContext, {"gate": "softmax"}),
        (GlobalContext, {"activation": None}),
        (SelectiveKernel, {"kernel_size": 4}),
        (SelectiveKernel, {"kernel_size": [3]}),
        (SelectiveKernel, {"kernel_size": [3, 1]}),
        (SelectiveKernel, {"stride": 0}),
        (SelectiveKernel, {"groups": 1.5}),
        (SelectiveKernel, {"out_channels": -8}),
        (SplitAttention, {"radix": 0}),
        (SplitAttention, {"kernel_size": 2}),
        (SplitAttention, {"dilation": 0}),
        (SplitAttention, {"rd_divisor": None}),
    ],
)
def test_bad_argument_raises_value_error_naming_it(cls, kwargs):
    (arg, value), = kwargs.items()
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    message = str(info.value)
    assert message.startswith(f"{arg}={value!r}"), message


def test_circular_padding_wider_than_channels_is_rejected():
    layer = EfficientChannelAttention(kernel_size=9, circular=True)
    with pytest.raises(ValueError, match="kernel_size=9"):
        layer.build((None, 5, 5, 3))


# ----------------------------------------------------------------------------
# Reduction width and ECA kernel size vs timm
# ----------------------------------------------------------------------------


def test_make_divisible_matches_timm():
    values = [0.5, 1, 3.9, 4, 4.1, 7.5, 12, 15.99, 24, 37.3, 100, 255.5, 1000]
    for v, divisor, min_value, round_limit in itertools.product(
        values, [1, 3, 4, 8, 16], [None, 16], [0.0, 0.9]
    ):
        expected = timm_make_divisible(v, divisor, min_value, round_limit)
        assert make_divisible(v, divisor, min_value, round_limit) == expected, (v, divisor)


@pytest.mark.parametrize("channels", [8, 16, 24, 40, 64, 96, 100, 256, 1000, 2048])
def test_reduced_channels_match_timm(channels):
    for rd_ratio, rd_divisor in itertools.product([1 / 16, 1 / 8, 0.25, 1 / 3], [1, 4, 8, 16]):
        shape = (None, 1, 1, channels)
        se = SqueezeExcite(rd_ratio=rd_ratio, rd_divisor=rd_divisor)
        se.build(shape)
        timm_rd = timm_make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)
        assert se.fc1.units == timm_rd, (channels, rd_ratio, rd_divisor)
        cbam = CBAM(rd_ratio=rd_ratio, rd_divisor=rd_divisor)
        cbam.build(shape)
        assert cbam.fc1.units == timm_rd, (channels, rd_ratio, rd_divisor)
    # Module defaults, taken from the timm modules themselves.
    se, cbam = SqueezeExcite(), CBAM()
    se.build((None, 1, 1, channels))
    cbam.build((None, 1, 1, channels))
    assert se.fc1.units == SEModule(channels).fc1.out_channels
    assert cbam.fc1.units == CbamModule(channels).channel.fc1.out_channels


def test_explicit_rd_channels_wins():
    layer = SqueezeExcite(rd_channels=5)
    layer.build(INPUT_SHAPE)
    assert layer.fc1.units == 5


@pytest.mark.parametrize("gamma, beta", [(2, 1), (1, 0), (3, 2)])
def test_eca_kernel_size_matches_timm(gamma, beta):
    for channels in [3, 8, 16, 32, 64, 100, 128, 256, 512, 1024, 2048, 4096]:
        expected = EcaModule(channels, gamma=gamma, beta=beta).conv.kernel_size[0]
        assert eca_kernel_size(channels, gamma, beta) == expected, channels
        layer = EfficientChannelAttention(gamma=gamma, beta=beta)
        layer.build((None, 1, 1, channels))
        assert layer.conv.kernel.shape[0] == expected, channels


def test_eca_kernel_size_examples():
    # Spot values so the sweep above cannot pass with both sides wrong.
    assert [eca_kernel_size(c) for c in (64, 256, 1024)] == [3, 5, 5]


# ----------------------------------------------------------------------------
# Against the float64 NumPy references
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "squeeze, gate", list(itertools.product(["avg", "max", "avgmax"], list(NP_GATES)))
)
def test_se_matches_reference(squeeze, gate):
    layer = built_layer("se", squeeze=squeeze, gate=gate)
    x = random_input()
    expected = reference_se(x.astype(np.float64), weights_f64(layer), squeeze=squeeze, gate=gate)
    assert_close(to_numpy(layer(x)), expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"activation": "silu"},
        {"use_bias": False},
        {"rd_channels": 5, "rd_ratio": 0.5},
        {"rd_ratio": 0.25, "rd_divisor": 1},
    ],
)
def test_se_options_match_reference(kwargs):
    layer = built_layer("se", **kwargs)
    x = random_input()
    activation = kwargs.get("activation", "relu")
    expected = reference_se(x.astype(np.float64), weights_f64(layer), activation=activation)
    assert_close(to_numpy(layer(x)), expected)


@pytest.mark.parametrize("squeeze, gate", list(itertools.product(["avg", "avgmax"], list(NP_GATES))))
def test_ese_matches_reference(squeeze, gate):
    layer = built_layer("ese", squeeze=squeeze, gate=gate)
    x = random_input()
    expected = reference_ese(x.astype(np.float64), weights_f64(layer), squeeze=squeeze, gate=gate)
    assert_close(to_numpy(layer(x)), expected)


@pytest.mark.parametrize("circular", [False, True])
@pytest.mark.parametrize(
    "channels, kwargs, kernel_size",
    [(64, {}, 3), (256, {}, 5), (16, {"kernel_size": 7}, 7), (64, {"gate": "hard_sigmoid"}, 3)],
)
def test_eca_matches_reference(circular, channels, kwargs, kernel_size):
    shape = INPUT_SHAPE[:-1] + (channels,)
    layer = built_layer("eca", input_shape=shape, circular=circular, **kwargs)
    assert layer.conv.kernel.shape[0] == kernel_size
    x = random_input(shape)
    gate = kwargs.get("gate", "sigmoid")
    expected = reference_eca(x.astype(np.float64), weights_f64(layer), circular=circular, gate=gate)
    assert_close(to_numpy(layer(x)), expected)


def test_circular_and_zero_padding_differ():
    # Guards against `circular` being silently ignored: edge channels must differ.
    zero = built_layer("eca")
    circ = built_layer("ceca")
    circ.set_weights(zero.get_weights())
    x = random_input()
    diff = np.abs(to_numpy(zero(x)) - to_numpy(circ(x))).max(axis=(0, 1, 2))
    assert diff[0] > 1e-4 and diff[-1] > 1e-4
    assert np.all(diff[1:-1] == 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"gate": "hard_sigmoid"},
        {"use_bias": True},
        {"spatial_kernel_size": 3, "activation": "silu"},
        {"rd_channels": 7},
    ],
)
def test_cbam_matches_reference(kwargs):
    layer = built_layer("cbam", **kwargs)
    x = random_input()
    expected = reference_cbam(
        x.astype(np.float64),
        weights_f64(layer),
        activation=kwargs.get("activation", "relu"),
        gate=kwargs.get("gate", "sigmoid"),
    )
    assert_close(to_numpy(layer(x)), expected)
    assert_close(to_numpy(layer(x, training=False)), expected)


def test_cbam_training_uses_batch_statistics():
    layer = built_layer("cbam")
    x = random_input()
    expected = reference_cbam(x.astype(np.float64), weights_f64(layer), batch_stats=True)
    assert_close(to_numpy(layer(x, training=True)), expected)


@pytest.mark.parametrize("channels, reduction", [(64, 16), (64, 4), (8, 16)])
def test_scse_matches_reference(channels, reduction):
    shape = INPUT_SHAPE[:-1] + (channels,)
    layer = built_layer("scse", input_shape=shape, rd_ratio=1 / reduction)
    assert layer.cse_fc1.units == max(channels // reduction, 1)
    x = random_input(shape)
    assert_close(to_numpy(layer(x)), reference_scse(x.astype(np.float64), weights_f64(layer)))


# ----------------------------------------------------------------------------
# Against timm's modules, weights copied timm -> keras as a converter would
# ----------------------------------------------------------------------------


def conv1x1_to_dense(weight):
    """torch Conv2d 1x1 weight (out, in, 1, 1) -> keras Dense kernel (in, out)."""
    return weight[:, :, 0, 0].T


def load_from_timm(layer, weights):
    """Assign {relative keras path: numpy array}; every keras weight must be covered."""
    assert set(weights) == {relative_path(v) for v in layer.weights}
    for variable in layer.weights:
        value = weights[relative_path(variable)]
        assert value.shape == tuple(variable.shape), relative_path(variable)
        variable.assign(value.astype("float32"))


def state_dict_numpy(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def timm_forward(module, x_nhwc):
    module.eval()
    with torch.no_grad():
        y = module(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2)))
    return y.numpy().transpose(0, 2, 3, 1)


def randomize_biases(module, seed=0):
    """timm / torch leave 1x1 conv biases small; draw larger ones so they matter."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("bias"):
                param.copy_(0.5 * torch.randn(param.shape, generator=generator))


def timm_dense_weights(sd, torch_prefix, keras_prefix):
    weights = {f"{keras_prefix}/kernel": conv1x1_to_dense(sd[f"{torch_prefix}.weight"])}
    if f"{torch_prefix}.bias" in sd:
        weights[f"{keras_prefix}/bias"] = sd[f"{torch_prefix}.bias"]
    return weights


@pytest.mark.parametrize("add_maxpool", [False, True])
@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid", "tanh", "relu"])
def test_se_matches_timm(add_maxpool, gate):
    torch.manual_seed(0)
    module = SEModule(CHANNELS, add_maxpool=add_maxpool, gate_layer=gate)
    randomize_biases(module)
    sd = state_dict_numpy(module)
    layer = SqueezeExcite(squeeze="avgmax" if add_maxpool else "avg", gate=gate)
    layer.build(INPUT_SHAPE)
    load_from_timm(layer, {**timm_dense_weights(sd, "fc1", "fc1"), **timm_dense_weights(sd, "fc2", "fc2")})
    x = random_input()
    assert_close(to_numpy(layer(x)), timm_forward(module, x))


@pytest.mark.parametrize(
    "timm_kwargs, keras_kwargs",
    [
        ({"bias": False}, {"use_bias": False}),
        ({"act_layer": torch.nn.SiLU}, {"activation": "silu"}),
        ({"rd_ratio": 0.25, "rd_divisor": 4}, {"rd_ratio": 0.25, "rd_divisor": 4}),
    ],
)
def test_se_options_match_timm(timm_kwargs, keras_kwargs):
    torch.manual_seed(1)
    module = SEModule(CHANNELS, **timm_kwargs)
    randomize_biases(module)
    sd = state_dict_numpy(module)
    layer = SqueezeExcite(**keras_kwargs)
    layer.build(INPUT_SHAPE)
    load_from_timm(layer, {**timm_dense_weights(sd, "fc1", "fc1"), **timm_dense_weights(sd, "fc2", "fc2")})
    x = random_input()
    assert_close(to_numpy(layer(x)), timm_forward(module, x))


@pytest.mark.parametrize("add_maxpool", [False, True])
@pytest.mark.parametrize("gate", ["hard_sigmoid", "sigmoid"])
def test_ese_matches_timm(add_maxpool, gate):
    torch.manual_seed(0)
    module = EffectiveSEModule(CHANNELS, add_maxpool=add_maxpool, gate_layer=gate)
    randomize_biases(module)
    sd = state_dict_numpy(module)
    layer = EffectiveSqueezeExcite(squeeze="avgmax" if add_maxpool else "avg", gate=gate)
    layer.build(INPUT_SHAPE)
    load_from_timm(layer, timm_dense_weights(sd, "fc", "fc"))
    x = random_input()
    assert_close(to_numpy(layer(x)), timm_forward(module, x))


@pytest.mark.parametrize("timm_cls, circular", [(EcaModule, False), (CecaModule, True)])
@pytest.mark.parametrize("channels", [64, 256])
def test_eca_matches_timm(timm_cls, circular, channels):
    torch.manual_seed(0)
    module = timm_cls(channels)
    sd = state_dict_numpy(module)
    layer = EfficientChannelAttention(circular=circular)
    shape = INPUT_SHAPE[:-1] + (channels,)
    layer.build(shape)
    # torch Conv1d weight (out=1, in=1, k) -> keras Conv1D kernel (k, in=1, out=1).
    load_from_timm(layer, {"conv/kernel": sd["conv.weight"].transpose(2, 1, 0)})
    x = random_input(shape)
    assert_close(to_numpy(layer(x)), timm_forward(module, x))


def timm_cbam_weights(sd):
    return {
        **timm_dense_weights(sd, "channel.fc1", "fc1"),
        **timm_dense_weights(sd, "channel.fc2", "fc2"),
        # torch Conv2d weight (out, in, kh, kw) -> keras Conv2D kernel (kh, kw, in, out).
        "spatial_conv/kernel": sd["spatial.conv.conv.weight"].transpose(2, 3, 1, 0),
        "spatial_bn/gamma": sd["spatial.conv.bn.weight"],
        "spatial_bn/beta": sd["spatial.conv.bn.bias"],
        "spatial_bn/moving_mean": sd["spatial.conv.bn.running_mean"],
        "spatial_bn/moving_variance": sd["spatial.conv.bn.running_var"],
    }


def make_timm_cbam(seed, **kwargs):
    torch.manual_seed(seed)
    module = CbamModule(CHANNELS, **kwargs)
    randomize_biases(module, seed)
    bn = module.spatial.conv.bn
    with torch.no_grad():  # non-trivial BN affine parameters and running statistics
        bn.weight.fill_(1.3)
        bn.bias.fill_(-0.2)
        bn.running_mean.fill_(0.4)
        bn.running_var.fill_(2.5)
    return module


@pytest.mark.parametrize(
    "timm_kwargs, keras_kwargs",
    [
        ({}, {}),
        ({"mlp_bias": True}, {"use_bias": True}),
        ({"gate_layer": "hard_sigmoid", "spatial_kernel_size": 5}, {"gate": "hard_sigmoid", "spatial_kernel_size": 5}),
    ],
)
def test_cbam_matches_timm_eval(timm_kwargs, keras_kwargs):
    module = make_timm_cbam(0, **timm_kwargs)
    layer = CBAM(**keras_kwargs)
    layer.build(INPUT_SHAPE)
    load_from_timm(layer, timm_cbam_weights(state_dict_numpy(module)))
    x = random_input()
    assert_close(to_numpy(layer(x, training=False)), timm_forward(module, x))


def test_cbam_matches_timm_train_mode():
    module = make_timm_cbam(1)
    layer = CBAM()
    layer.build(INPUT_SHAPE)
    load_from_timm(layer, timm_cbam_weights(state_dict_numpy(module)))
    x = random_input()
    module.train()
    with torch.no_grad():
        expected = module(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    assert_close(to_numpy(layer(x, training=True)), expected)
    # Both frameworks update the running mean the same way (keras momentum 0.9 == torch 0.1).
    assert_close(to_numpy(layer.spatial_bn.moving_mean), module.spatial.conv.bn.running_mean.numpy())


# ----------------------------------------------------------------------------
# MACs (used by keras_senet.complexity.count_macs) vs hooks on timm's modules
# ----------------------------------------------------------------------------


TIMM_MODULES = {
    "se": SEModule,
    "ese": EffectiveSEModule,
    "eca": EcaModule,
    "ceca": CecaModule,
    "cbam": CbamModule,
    "gc": TimmGlobalContext,
    "sk": TimmSelectiveKernel,
    "splat": SplitAttn,
}


@pytest.mark.parametrize("name", sorted(TIMM_MODULES))
@pytest.mark.parametrize("shape", [INPUT_SHAPE, (1, 5, 6, 256)])
def test_macs_match_timm_hook_count(name, shape):
    layer = get_attention(name)
    layer.build(shape)
    assert layer.macs(shape) == timm_hook_macs(TIMM_MODULES[name](shape[-1]), shape)


def test_scse_macs():
    layer = SpatialChannelSqueezeExcite()
    layer.build(INPUT_SHAPE)
    assert layer.macs(INPUT_SHAPE) == 2 * CHANNELS * (CHANNELS // 16) + CHANNELS * 7 * 9


@pytest.mark.parametrize("name", ["cbam", "scse", "gc", "sk", "splat"])
def test_spatial_macs_need_fixed_size(name):
    layer = get_attention(name)
    layer.build((None, None, None, CHANNELS))
    with pytest.raises(ValueError, match="fixed height and width"):
        layer.macs((None, None, None, CHANNELS))


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_macs_independent_of_data_format(name):
    last = get_attention(name, data_format="channels_last")
    last.build(INPUT_SHAPE)
    first = get_attention(name, data_format="channels_first")
    first_shape = (2, CHANNELS, 7, 9)
    first.build(first_shape)
    assert first.macs(first_shape) == last.macs(INPUT_SHAPE)


@pytest.mark.parametrize("name, old, new, attribute, expected", [
    ("cbam", {"mlp_bias": True}, {"use_bias": True}, "use_bias", True),
    ("scse", {"reduction": 4}, {"rd_ratio": 0.25}, "rd_ratio", 0.25),
])
def test_deprecated_spellings_still_work_and_warn(name, old, new, attribute, expected):
    """0.1's argument names (and configs saved with them) build the same layer, with a warning."""
    with pytest.warns(DeprecationWarning, match=f"{next(iter(old))}=...\\) is deprecated"):
        layer = get_attention(name, **old)
    assert getattr(layer, attribute) == expected == getattr(get_attention(name, **new), attribute)
    restored = type(layer).from_config(layer.get_config())
    assert getattr(restored, attribute) == expected and next(iter(old)) not in layer.get_config()


# --- SplitChannels (MixNet's mixed convolutions) --------------------------------------------------

@pytest.mark.parametrize("splits", [(22, 21, 21), (32, 32)])
def test_split_channels_matches_torch_split(splits):
    from keras_senet.layers import SplitChannels

    x = random_input()
    parts = SplitChannels(splits)(x)
    expected = torch.split(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), list(splits), dim=1)
    assert len(parts) == len(splits)
    for part, reference in zip(parts, expected):
        np.testing.assert_array_equal(to_numpy(part), reference.numpy().transpose(0, 2, 3, 1))


def test_split_channels_config_round_trip_and_channels_first():
    from keras_senet.layers import SplitChannels

    layer = SplitChannels((40, 24), data_format="channels_first")
    clone = SplitChannels.from_config(layer.get_config())
    x = random_input().transpose(0, 3, 1, 2).copy()
    first, second = clone(x)
    np.testing.assert_array_equal(to_numpy(first), x[:, :40])
    np.testing.assert_array_equal(to_numpy(second), x[:, 40:])


@pytest.mark.parametrize("splits, message", [((64,), "at least two"), ((30, 30), "add up to 60"),
                                             ((32, 0), "splits=0")])
def test_split_channels_rejects_bad_splits(splits, message):
    from keras_senet.layers import SplitChannels

    with pytest.raises(ValueError, match=message):
        SplitChannels(splits)(random_input())


# --- Branch-selecting and global-context layers (sk, splat, gc) against timm's modules -----------------


def reference_gc(x, w, use_attn=True, fuse_scale=True, fuse_add=False):
    """float64 GlobalContext (timm's forward), channels-last."""
    if use_attn:
        logits = np_dense(x, w, "conv_attn")[..., 0]  # (B, H, W)
        weights = np.exp(logits - logits.max(axis=(1, 2), keepdims=True))
        weights /= weights.sum(axis=(1, 2), keepdims=True)
        context = np.einsum("bhwc,bhw->bc", x, weights)
    else:
        context = x.mean(axis=(1, 2))

    def mlp(prefix):
        hidden = np_dense(context, w, f"{prefix}/fc1")
        normed = (hidden - hidden.mean(-1, keepdims=True)) / np.sqrt(hidden.var(-1, keepdims=True) + 1e-6)
        normed = normed * w[f"{prefix}/norm/gamma"] + w[f"{prefix}/norm/beta"]
        return np_dense(np.maximum(normed, 0.0), w, f"{prefix}/fc2")[:, None, None, :]

    if fuse_scale:
        x = x * np_sigmoid(mlp("mlp_scale"))
    if fuse_add:
        x = x + mlp("mlp_add")
    return x


@pytest.mark.parametrize("kwargs", [{}, {"use_attn": False}, {"fuse_add": True}, {"fuse_add": True, "fuse_scale": False}])
def test_gc_matches_reference(kwargs):
    layer = built_layer("gc", **kwargs)
    x = random_input()
    assert_close(to_numpy(layer(x)), reference_gc(x.astype(np.float64), weights_f64(layer), **kwargs))


def test_gc_needs_a_fusion():
    with pytest.raises(ValueError, match="fuse_add=False and fuse_scale=False"):
        GlobalContext(fuse_scale=False)


def randomize_torch(module, seed=0):
    """Every parameter and BatchNorm statistic of a timm module drawn afresh (kernels ~ 1/sqrt(fan-in))."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            scale = parameter[0].numel() ** -0.5 if parameter.ndim > 1 else 0.5
            parameter.copy_(scale * torch.randn(parameter.shape, generator=generator))
        for norm in module.modules():
            if isinstance(norm, torch.nn.BatchNorm2d):
                norm.running_mean.uniform_(-0.5, 0.5, generator=generator)
                norm.running_var.uniform_(0.5, 1.5, generator=generator)
    return module.eval()


def keras_copy_of_timm(module, name, input_shape, **kwargs):
    """`get_attention(name, **kwargs)` in a model, given `module`'s weights by the checkpoint converter
    (timm names: ``paths.0.conv``, ``attn.fc_select``, ``mlp_scale.norm``, ...)."""
    inputs = keras.Input(input_shape[1:])
    layer = get_attention(name, name="block", **kwargs)
    model = keras.Model(inputs, layer(inputs))
    load_timm_state_dict(model, {f"block.{k}": v for k, v in state_dict_numpy(module).items()})
    return model, layer


# (timm module, get_attention name and kwargs, input shape): strides, dilated and grouped branches, a
# split input, radix 1 (sigmoid) and 4, cardinality, odd sizes so every padding rule is exercised.
TIMM_CASES = {
    "sk": (lambda: TimmSelectiveKernel(64), ("sk", {}), (2, 9, 11, 64)),
    "sk-stride2": (lambda: TimmSelectiveKernel(64, 32, stride=2), ("sk", {"out_channels": 32, "stride": 2}),
                   (2, 9, 11, 64)),
    "sk-resnext": (lambda: TimmSelectiveKernel(64, 128, stride=2, groups=32, split_input=False, rd_divisor=32),
                   ("sk", {"out_channels": 128, "stride": 2, "groups": 32, "split_input": False,
                           "rd_divisor": 32}), (2, 9, 10, 64)),
    "sk-3-branches": (lambda: TimmSelectiveKernel(48, kernel_size=[3, 5, 7], keep_3x3=False, rd_ratio=0.25),
                      ("sk", {"kernel_size": [3, 5, 7], "keep_3x3": False, "rd_ratio": 0.25}), (2, 8, 7, 48)),
    "sk-dilated": (lambda: TimmSelectiveKernel(32, stride=2, dilation=2), ("sk", {"stride": 2, "dilation": 2}),
                   (2, 11, 9, 32)),
    "splat": (lambda: SplitAttn(64, norm_layer=torch.nn.BatchNorm2d), ("splat", {}), (2, 9, 11, 64)),
    "splat-no-norm": (lambda: SplitAttn(64), ("splat", {"batch_norm": False}), (2, 9, 11, 64)),
    "splat-radix1": (lambda: SplitAttn(64, radix=1, groups=4, norm_layer=torch.nn.BatchNorm2d),
                     ("splat", {"radix": 1, "groups": 4}), (2, 9, 11, 64)),
    "splat-4s2x": (lambda: SplitAttn(80, 40, radix=4, groups=2, stride=2, norm_layer=torch.nn.BatchNorm2d),
                   ("splat", {"out_channels": 40, "radix": 4, "groups": 2, "stride": 2}), (2, 9, 11, 80)),
    "gc": (lambda: TimmGlobalContext(64), ("gc", {}), (2, 9, 11, 64)),
    "gc-add-avg": (lambda: TimmGlobalContext(64, use_attn=False, fuse_add=True), ("gc", {"use_attn": False,
                                                                                          "fuse_add": True}),
                   (2, 9, 11, 64)),
}


@pytest.mark.parametrize("case", sorted(TIMM_CASES))
def test_branch_and_context_layers_match_timm(case):
    """Same weights (through the checkpoint converter), same outputs and MACs as timm's module; the
    output shape the layer declares is the one it returns."""
    make, (name, kwargs), shape = TIMM_CASES[case]
    torch.manual_seed(0)
    module = randomize_torch(make())
    model, layer = keras_copy_of_timm(module, name, shape, **kwargs)
    x = random_input(shape)
    out = to_numpy(model(x))
    assert_close(out, timm_forward(module, x))
    assert layer.compute_output_shape(shape) == out.shape
    assert layer.macs(shape) == timm_hook_macs(module, shape)


@pytest.mark.parametrize("case", ["sk-stride2", "splat-4s2x"])
def test_branch_layers_match_timm_in_training(case):
    """training=True: every BatchNorm normalises with the batch's statistics, as timm's train mode.

    In float64 on both sides. Keras' torch-backend BatchNorm in training mode differs from the NumPy formula
    by up to 3e-5 even in float64 (measured on a (2, 32) batch; TensorFlow's: 1e-15), and the attention
    BatchNorm here sees one value per sample, so on that backend the bound is 1e-4 (TensorFlow: 1e-9)."""
    make, (name, kwargs), shape = TIMM_CASES[case]
    torch.manual_seed(0)
    module = randomize_torch(make()).double()
    _, layer = keras_copy_of_timm(module, name, shape, dtype="float64", **kwargs)
    x = random_input((8,) + shape[1:]).astype(np.float64)  # 8 samples: BatchNorm statistics of substance
    with torch.no_grad():
        expected = module.train()(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    atol = 1e-9 if keras.backend.backend() == "tensorflow" else 1e-4
    assert_close(to_numpy(layer(x, training=True)), expected, atol=atol)


@pytest.mark.parametrize("name, kwargs, channels, message", [
    ("sk", {}, 63, "63 input channels to divide among 2 branches"),
    ("splat", {"groups": 3}, 64, "groups=3"),
])
def test_branch_layers_reject_channels_they_cannot_split(name, kwargs, channels, message):
    with pytest.raises(ValueError, match=message):
        get_attention(name, **kwargs).build((None, 8, 8, channels))


# --- SqueezeExcite(use_norm=True): ReXNet's SE, BatchNorm in the bottleneck ---------------------


def test_se_with_norm_matches_timm_eval_and_train():
    """timm's SEModule(norm_layer=BatchNorm2d) (ReXNet's ``SEWithNorm``), non-trivial BN statistics: the
    same output in eval mode, in train mode (batch statistics) and the same running-mean update.

    Train mode on the torch backend: Keras' torch-backend BatchNorm in training mode differs from the exact
    formula by up to 3e-5 (see test_branch_layers_match_timm_in_training; measured here: 1.0e-5 abs on
    outputs of magnitude ~1), so the bound there is 1e-4; TensorFlow keeps ATOL."""
    torch.manual_seed(2)
    module = SEModule(CHANNELS, rd_channels=12, norm_layer=torch.nn.BatchNorm2d)
    randomize_biases(module, 2)
    with torch.no_grad():
        module.bn.weight.uniform_(0.5, 1.5)
        module.bn.running_mean.uniform_(-0.5, 0.5)
        module.bn.running_var.uniform_(0.5, 1.5)
    sd = state_dict_numpy(module)
    layer = SqueezeExcite(rd_channels=12, use_norm=True)
    layer.build(INPUT_SHAPE)
    load_from_timm(layer, {**timm_dense_weights(sd, "fc1", "fc1"), **timm_dense_weights(sd, "fc2", "fc2"),
                           "bn/gamma": sd["bn.weight"], "bn/beta": sd["bn.bias"],
                           "bn/moving_mean": sd["bn.running_mean"], "bn/moving_variance": sd["bn.running_var"]})
    x = random_input((16,) + INPUT_SHAPE[1:])  # batch statistics of 16 vectors: well conditioned
    assert_close(to_numpy(layer(x, training=False)), timm_forward(module, x))
    module.train()
    with torch.no_grad():
        expected = module(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    train_atol = ATOL if keras.backend.backend() == "tensorflow" else 1e-4
    assert_close(to_numpy(layer(x, training=True)), expected, atol=train_atol)
    assert_close(to_numpy(layer.bn.moving_mean), module.bn.running_mean.numpy())


def test_se_with_norm_config_round_trip_and_default_off():
    layer = SqueezeExcite(rd_channels=12, use_norm=True)
    restored = SqueezeExcite.from_config(layer.get_config())
    restored.build(INPUT_SHAPE)
    assert restored.use_norm and {relative_path(v) for v in restored.weights} >= {"bn/gamma", "bn/moving_variance"}
    config = SqueezeExcite().get_config()
    del config["use_norm"]  # a config saved before the argument existed
    plain = SqueezeExcite.from_config(config)
    plain.build(INPUT_SHAPE)
    assert not plain.use_norm and len(plain.weights) == 4


# --- NearestResize (GhostNetV2's DFC attention gate) ----------------------------------------------


@pytest.mark.parametrize("source, target", [((2, 2), (5, 5)), ((3, 1), (7, 3)), ((4, 4), (8, 8)),
                                            ((1, 1), (3, 3)), ((3, 4), (3, 4))])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_nearest_resize_matches_torch_interpolate(source, target, data_format):
    from keras_senet.layers import NearestResize

    x = random_input((2, *source, 5))
    reference = np.zeros((2, *target, 3), "float32")
    expected = torch.nn.functional.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), size=target,
                                               mode="nearest").numpy()
    if data_format == "channels_first":
        x, reference = x.transpose(0, 3, 1, 2), reference.transpose(0, 3, 1, 2)
    else:
        expected = expected.transpose(0, 2, 3, 1)
    out = NearestResize(data_format=data_format)([x, reference])
    np.testing.assert_array_equal(to_numpy(out), expected)


def test_nearest_resize_dynamic_size_and_config():
    """Sizes unknown when the graph is built: the rows are computed at run time, with the same rule."""
    from keras_senet.layers import NearestResize

    small, big = keras.Input((None, None, 5)), keras.Input((None, None, 3))
    layer = NearestResize(name="resize")
    model = keras.Model([small, big], layer([small, big]))
    x = random_input((1, 2, 3, 5))
    expected = torch.nn.functional.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), size=(5, 7),
                                               mode="nearest").numpy().transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(to_numpy(model([x, np.zeros((1, 5, 7, 3), "float32")])), expected)
    assert NearestResize.from_config(layer.get_config()).data_format == "channels_last"
