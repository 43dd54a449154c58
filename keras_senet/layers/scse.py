"""Concurrent Spatial and Channel Squeeze & Excitation (scSE) layer."""

import math

import keras
from keras import ops

from keras_senet._deprecation import renamed
from keras_senet.layers import _common


@keras.saving.register_keras_serializable(package="keras_senet")
class SpatialChannelSqueezeExcite(keras.layers.Layer):
    """Concurrent spatial and channel SE (Roy et al., "Concurrent Spatial and Channel Squeeze & Excitation in Fully Convolutional Networks", MICCAI 2018).

    Sum of a channel-recalibrated and a spatially-recalibrated copy of the
    input, `x * cSE(x) + x * sSE(x)`, as segmentation_models_pytorch's
    `SCSEModule`:

    - `cSE(x) = sigmoid(cse_fc2(relu(cse_fc1(avgpool(x)))))`, one weight per channel;
    - `sSE(x) = sigmoid(sse_conv(x))`, a 1x1 convolution C -> 1, one weight per pixel.

    Args:
        rd_ratio: the cSE bottleneck has `max(floor(channels * rd_ratio), 1)` units.
            Default 1/16 (``reduction=16``, the deprecated 0.1 spelling, means the same).
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape: 4-D `(batch, height, width, channels)` (channels_last) or
        `(batch, channels, height, width)` (channels_first).
    Output shape: same as the input.

    Weights (created in `build`, all with biases): `cse_fc1` Dense(rd), kernel
    `(C, rd)`; `cse_fc2` Dense(C), kernel `(rd, C)`; `sse_conv` Dense(1) on the
    channel axis (a 1x1 convolution), kernel `(C, 1)`.
    """

    def __init__(self, rd_ratio=1.0 / 16, data_format=None, **kwargs):
        reduction = renamed("SpatialChannelSqueezeExcite", kwargs, "reduction", "rd_ratio", None)
        if reduction is not None:
            rd_ratio = 1.0 / _common.check_positive_int("reduction", reduction)
        super().__init__(**kwargs)
        self.rd_ratio = _common.check_positive_number("rd_ratio", rd_ratio)
        self.data_format = _common.resolve_data_format(data_format)

    def build(self, input_shape):
        channels = _common.channels_from_shape(self.name, input_shape, self.data_format)
        # The small epsilon keeps channels * (1 / r) from flooring below channels // r in float maths.
        rd_channels = max(int(math.floor(channels * self.rd_ratio + 1e-9)), 1)
        self.cse_fc1 = keras.layers.Dense(rd_channels, name="cse_fc1", dtype=self.dtype_policy)
        self.cse_fc2 = keras.layers.Dense(channels, name="cse_fc2", dtype=self.dtype_policy)
        self.sse_conv = keras.layers.Dense(1, name="sse_conv", dtype=self.dtype_policy)
        self.cse_fc1.build((None, channels))
        self.cse_fc2.build((None, rd_channels))
        self.sse_conv.build((None, channels))
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={_common.channel_axis(self.data_format): channels}
        )

    def excitation(self, inputs):
        """The cSE channel gate `(batch, channels)`, in (0, 1) (the sSE branch's gate is per pixel)."""
        descriptor = _common.squeeze(inputs, "avg", self.data_format)  # (B, C)
        return ops.sigmoid(self.cse_fc2(ops.relu(self.cse_fc1(descriptor))))

    def call(self, inputs):
        channel_gate = self.excitation(inputs)
        # Dense acts on the last axis, so the 1x1 conv runs on a channels-last view.
        spatial_logits = self.sse_conv(_common.to_channels_last(inputs, self.data_format))
        spatial_gate = ops.sigmoid(_common.from_channels_last(spatial_logits, self.data_format))
        return inputs * _common.channel_scale(channel_gate, self.data_format) + inputs * spatial_gate

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def macs(self, input_shape):
        """Multiply-accumulates per sample on `input_shape` (built layer only).

        Counts `cse_fc1` and `cse_fc2` once and `sse_conv` at every pixel, like a forward hook on timm's Conv/Linear modules;
        pooling, gates and the rescaling multiply are left out (fvcore convention).
        """
        mlp = _common.kernel_elements(self.cse_fc1) + _common.kernel_elements(self.cse_fc2)
        pixels = _common.spatial_positions(input_shape, self.data_format)
        return mlp + _common.kernel_elements(self.sse_conv) * pixels

    def get_config(self):
        config = super().get_config()
        config.update(rd_ratio=self.rd_ratio, data_format=self.data_format)
        return config
