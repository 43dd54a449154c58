"""Private helpers shared by the attention layers.

Argument checks, data-format axis bookkeeping, the global "squeeze" pooling
and the gate non-linearities live here so that every layer handles them the
same way.
"""

import contextlib
import contextvars
import math

import keras
from keras import ops

from keras_senet._channels import make_divisible  # noqa: F401  (re-exported: layers use _common.make_divisible)

DATA_FORMATS = ("channels_last", "channels_first")

# The graph form the layers trace to. Default: the Keras ops as they are. An accelerator export profile
# (keras_senet.export.edge) traces its export inside `export_form(...)`: the squeeze becomes a pooling
# window over the static feature size (TFLite AVERAGE_POOL_2D / MAX_POOL_2D instead of MEAN / REDUCE_MAX)
# and the hard-sigmoid gate relu6(x + 3) * (1/6) (ADD, RELU6, MUL: no RELU_0_TO_1 op). Both compute the
# same numbers; only the ops the converter emits differ. Read at trace time, so the Keras model is unchanged.
_EXPORT_FORM = contextvars.ContextVar("keras_senet_export_form", default=frozenset())
EXPORT_FORMS = ("pool_squeeze", "relu6_hard_sigmoid")


@contextlib.contextmanager
def export_form(*forms):
    """Trace the attention layers in the given `EXPORT_FORMS` inside this context (export only)."""
    for form in forms:
        check_choice("export form", form, EXPORT_FORMS)
    token = _EXPORT_FORM.set(frozenset(forms))
    try:
        yield
    finally:
        _EXPORT_FORM.reset(token)


def relu6_hard_sigmoid(x):
    """relu6(x + 3) * (1/6): hard-sigmoid from ops every accelerator delegate maps (ADD, RELU6, MUL)."""
    return ops.relu6(x + 3.0) * (1.0 / 6.0)


def _hard_sigmoid(x):
    """keras.ops.hard_sigmoid, or its relu6 form inside ``export_form("relu6_hard_sigmoid")``."""
    if "relu6_hard_sigmoid" in _EXPORT_FORM.get():
        return relu6_hard_sigmoid(x)
    return ops.hard_sigmoid(x)


# Gates evaluated in the SENet paper's ablation (Table 13 of arXiv:1709.01507).
# keras.ops.hard_sigmoid is relu6(x + 3) / 6, identical to torch's Hardsigmoid.
GATES = {
    "sigmoid": ops.sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "tanh": ops.tanh,
    "relu": ops.relu,
}

# "avgmax" is timm's `add_maxpool=True`: 0.5 * mean + 0.5 * max.
SQUEEZE_MODES = ("avg", "max", "avgmax")


def _format_choices(allowed):
    return ", ".join(repr(a) for a in allowed)


def check_choice(arg, value, allowed):
    """Return `value` if it is in `allowed`, else raise ValueError naming `arg`."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{arg}={value!r} is not one of {_format_choices(allowed)}")
    return value


def check_positive_int(arg, value, allow_none=False):
    """Return `value` if it is a positive int (or None when allowed), else raise ValueError."""
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        expected = "a positive int or None" if allow_none else "a positive int"
        raise ValueError(f"{arg}={value!r} is not {expected}")
    return value


def check_odd_kernel(arg, value, allow_none=False):
    """Return `value` if it is a positive odd int (or None when allowed), else raise ValueError.

    Odd sizes are required so that symmetric (k - 1) // 2 padding keeps the
    length unchanged, as in timm.
    """
    check_positive_int(arg, value, allow_none=allow_none)
    if value is not None and value % 2 == 0:
        raise ValueError(f"{arg}={value!r} is not an odd positive int")
    return value


def check_positive_number(arg, value):
    """Return `value` if it is a real number > 0, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{arg}={value!r} is not a positive number")
    return value


def resolve_data_format(data_format):
    """Map None to keras.config.image_data_format() and validate the result."""
    if data_format is None:
        data_format = keras.config.image_data_format()
    return check_choice("data_format", data_format, DATA_FORMATS)


def resolve_gate(gate):
    """Return the gate function for a gate name (see GATES)."""
    return GATES[check_choice("gate", gate, tuple(GATES))]


def resolve_activation(activation):
    """Return the keras activation function for a name, raising ValueError naming the argument."""
    if not isinstance(activation, str):
        raise ValueError(f"activation={activation!r} is not a keras activation name")
    try:
        return keras.activations.get(activation)
    except ValueError:
        raise ValueError(f"activation={activation!r} is not a keras activation name") from None


def channel_axis(data_format):
    """Axis of the channels in a 4-D tensor."""
    return -1 if data_format == "channels_last" else 1


def spatial_axes(data_format):
    """Axes of height and width in a 4-D tensor."""
    return (1, 2) if data_format == "channels_last" else (2, 3)


def channels_from_shape(layer_name, input_shape, data_format):
    """Return the (known) channel count of a 4-D input shape, else raise ValueError."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 4:
        raise ValueError(
            f"Layer {layer_name!r} expects a 4-D input (batch, height, width, channels) "
            f"or (batch, channels, height, width); got shape {input_shape}"
        )
    channels = input_shape[channel_axis(data_format)]
    if channels is None:
        raise ValueError(
            f"Layer {layer_name!r} needs a known channel dimension; got shape {input_shape} "
            f"with data_format={data_format!r}"
        )
    return int(channels)


def spatial_positions(input_shape, data_format):
    """height * width of a 4-D shape; ValueError if either is unknown (needed to count MACs)."""
    height, width = (input_shape[axis] for axis in spatial_axes(data_format))
    if height is None or width is None:
        raise ValueError(f"MACs need a fixed height and width; got input shape {tuple(input_shape)}")
    return int(height) * int(width)


def kernel_elements(dense_or_conv):
    """Number of elements of a built sublayer's kernel (= its MACs per output position)."""
    return math.prod(int(dim) for dim in dense_or_conv.kernel.shape)


def squeeze(x, mode, data_format):
    """Global spatial pooling of a 4-D tensor: (B, H, W, C) or (B, C, H, W) -> (B, C).

    Inside ``export_form("pool_squeeze")``: a pooling window over the whole (static) feature map."""
    axes = spatial_axes(data_format)
    if "pool_squeeze" in _EXPORT_FORM.get():
        return _window_squeeze(x, mode, data_format)
    if mode == "avg":
        return ops.mean(x, axis=axes)
    if mode == "max":
        return ops.max(x, axis=axes)
    return 0.5 * ops.mean(x, axis=axes) + 0.5 * ops.max(x, axis=axes)


def _window_squeeze(x, mode, data_format):
    """`squeeze` as one pooling window of the feature map's static size (AVERAGE_POOL_2D in TFLite)."""
    size = tuple(x.shape[axis] for axis in spatial_axes(data_format))
    if None in size:
        raise ValueError(f"the pooling form of the squeeze needs a static height and width; got input shape "
                         f"{tuple(x.shape)}: export with a fixed input size")
    channels = x.shape[channel_axis(data_format)]

    def pool(kind):
        pooled = kind(x, pool_size=size, strides=size, padding="valid", data_format=data_format)
        return ops.reshape(pooled, (-1, channels))

    if mode == "avg":
        return pool(ops.average_pool)
    if mode == "max":
        return pool(ops.max_pool)
    return 0.5 * pool(ops.average_pool) + 0.5 * pool(ops.max_pool)


def channel_scale(vector, data_format):
    """Reshape a (B, C) vector so it broadcasts over a 4-D tensor's spatial axes: (B, 1, 1, C) or (B, C, 1, 1).

    One reshape to a static shape rather than two expand_dims: TFLite's XNNPACK delegate takes RESHAPE
    but not EXPAND_DIMS, and every SE block's EXPAND_DIMS split the delegated graph (MobileNetV3: 10
    partitions instead of 1, 1.3x the latency of keras.applications' model; benchmarks/mobile_latency.py).
    """
    channels = vector.shape[-1]
    if channels is None:  # unknown width: no static shape to reshape to
        axes = (1, 1) if data_format == "channels_last" else (-1, -1)
        return ops.expand_dims(ops.expand_dims(vector, axes[0]), axes[1])
    shape = (-1, 1, 1, channels) if data_format == "channels_last" else (-1, channels, 1, 1)
    return ops.reshape(vector, shape)


def to_channels_last(x, data_format):
    """(B, C, H, W) -> (B, H, W, C) when channels_first; identity otherwise."""
    return x if data_format == "channels_last" else ops.transpose(x, (0, 2, 3, 1))


def from_channels_last(x, data_format):
    """Inverse of to_channels_last."""
    return x if data_format == "channels_last" else ops.transpose(x, (0, 3, 1, 2))


def channels_last_shape(shape, data_format):
    """A 4-D shape (B, C, H, W) -> (B, H, W, C) when channels_first; unchanged otherwise.

    The layers' own convolutions always run channels-last, on a `to_channels_last` view of a channels_first
    input: TensorFlow's CPU Conv2D kernel takes NHWC only unless oneDNN is on ("The Conv2D op currently only
    supports the NHWC tensor format on the CPU"; TensorFlow turns oneDNN on by default only on CPUs with
    AVX-512 VNNI, BF16 or AMX), so a channels_first Keras Conv2D fails on an AVX2 machine.
    """
    shape = tuple(shape)
    return shape if data_format == "channels_last" else (shape[0], shape[2], shape[3], shape[1])
