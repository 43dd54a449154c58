"""Convolutional Block Attention Module (CBAM) layer."""

import keras
from keras import ops

from keras_senet._deprecation import renamed
from keras_senet.layers import _common


@keras.saving.register_keras_serializable(package="keras_senet")
class CBAM(keras.layers.Layer):
    """Convolutional Block Attention Module (Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018).

    Channel attention followed by spatial attention, as timm's `CbamModule`:

    - channel: `x = x * gate(mlp(avgpool(x)) + mlp(maxpool(x)))` with a shared
      bottleneck `mlp = fc2(activation(fc1(.)))`;
    - spatial: `x = x * gate(bn(conv([mean_c(x), max_c(x)])))`, the two maps
      stacked in that order along the channel axis, `conv` a bias-free
      `spatial_kernel_size` x `spatial_kernel_size` "same" convolution and
      `bn` a BatchNormalization (timm's `ConvNormAct(2, 1, k, apply_act=False)`).

    Args:
        rd_ratio: bottleneck width as a fraction of the channels, used when
            `rd_channels` is None. Default 1/16.
        rd_channels: bottleneck width. Default None, meaning
            `make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)`.
        rd_divisor: the computed bottleneck width is a multiple of this. Default 1.
        spatial_kernel_size: odd kernel size of the spatial convolution. Default 7.
        activation: keras activation name applied after `fc1`. Default "relu".
        gate: "sigmoid" (default), "hard_sigmoid", "tanh" or "relu"; used by
            both the channel and the spatial branch.
        use_bias: whether `fc1` and `fc2` have biases. Default False. (``mlp_bias`` is its
            deprecated 0.1 spelling.)
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: 4-D tensor.
        training: passed to `spatial_bn` (batch statistics when True, moving
            statistics otherwise).

    Input shape: 4-D `(batch, height, width, channels)` (channels_last) or
        `(batch, channels, height, width)` (channels_first).
    Output shape: same as the input.

    Weights (created in `build`): `fc1` Dense(rd), kernel `(C, rd)`; `fc2`
    Dense(C), kernel `(rd, C)`; `spatial_conv` Conv2D(1), kernel `(k, k, 2, 1)`;
    `spatial_bn` BatchNormalization(epsilon=1e-5, momentum=0.9) over 1 channel.
    """

    def __init__(
        self,
        rd_ratio=1.0 / 16,
        rd_channels=None,
        rd_divisor=1,
        spatial_kernel_size=7,
        activation="relu",
        gate="sigmoid",
        use_bias=False,
        data_format=None,
        **kwargs,
    ):
        use_bias = renamed("CBAM", kwargs, "mlp_bias", "use_bias", use_bias)
        super().__init__(**kwargs)
        self.rd_ratio = _common.check_positive_number("rd_ratio", rd_ratio)
        self.rd_channels = _common.check_positive_int("rd_channels", rd_channels, allow_none=True)
        self.rd_divisor = _common.check_positive_int("rd_divisor", rd_divisor)
        self.spatial_kernel_size = _common.check_odd_kernel("spatial_kernel_size", spatial_kernel_size)
        self.activation = activation
        self._activation_fn = _common.resolve_activation(activation)
        self.gate = gate
        self._gate_fn = _common.resolve_gate(gate)
        self.use_bias = bool(use_bias)
        self.data_format = _common.resolve_data_format(data_format)

    def build(self, input_shape):
        channels = _common.channels_from_shape(self.name, input_shape, self.data_format)
        rd_channels = self.rd_channels or _common.make_divisible(
            channels * self.rd_ratio, self.rd_divisor, round_limit=0.0
        )
        axis = _common.channel_axis(self.data_format)
        self.fc1 = keras.layers.Dense(
            rd_channels, use_bias=self.use_bias, name="fc1", dtype=self.dtype_policy
        )
        self.fc2 = keras.layers.Dense(
            channels, use_bias=self.use_bias, name="fc2", dtype=self.dtype_policy
        )
        # Odd kernel + "same" = timm's symmetric (k - 1) // 2 zero padding.
        self.spatial_conv = keras.layers.Conv2D(
            1,
            self.spatial_kernel_size,
            padding="same",
            use_bias=False,
            data_format="channels_last",  # run on a channels-last view (_common.channels_last_shape)
            name="spatial_conv",
            dtype=self.dtype_policy,
        )
        # torch BatchNorm2d defaults: eps 1e-5, momentum 0.1 (= keras momentum 0.9).
        self.spatial_bn = keras.layers.BatchNormalization(
            axis=axis, epsilon=1e-5, momentum=0.9, name="spatial_bn", dtype=self.dtype_policy
        )
        self.fc1.build((None, channels))
        self.fc2.build((None, rd_channels))
        pooled_shape = list(input_shape)
        pooled_shape[axis] = 2
        self.spatial_conv.build(_common.channels_last_shape(pooled_shape, self.data_format))
        pooled_shape[axis] = 1
        self.spatial_bn.build(tuple(pooled_shape))
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={axis: channels})

    def _mlp(self, descriptor):
        return self.fc2(self._activation_fn(self.fc1(descriptor)))

    def excitation(self, inputs):
        """The channel gate `(batch, channels)` of the first stage (the spatial gate that follows is per pixel)."""
        # Channel attention: shared MLP over the avg- and max-pooled descriptors.
        avg = _common.squeeze(inputs, "avg", self.data_format)
        mx = _common.squeeze(inputs, "max", self.data_format)
        return self._gate_fn(self._mlp(avg) + self._mlp(mx))

    def call(self, inputs, training=None):
        x = inputs * _common.channel_scale(self.excitation(inputs), self.data_format)

        # Spatial attention on the channel-refined features.
        axis = _common.channel_axis(self.data_format)
        pooled = ops.concatenate(
            [ops.mean(x, axis=axis, keepdims=True), ops.max(x, axis=axis, keepdims=True)],
            axis=axis,
        )
        spatial = _common.from_channels_last(
            self.spatial_conv(_common.to_channels_last(pooled, self.data_format)), self.data_format)
        spatial = self.spatial_bn(spatial, training=training)
        return x * self._gate_fn(spatial)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def macs(self, input_shape):
        """Multiply-accumulates per sample on `input_shape` (built layer only).

        Counts the shared MLP twice (avg and max descriptors) and
        `spatial_conv` at every pixel, like a forward hook on timm's Conv/Linear modules;
        pooling, gates and the rescaling multiply are left out (fvcore convention).
        """
        mlp = _common.kernel_elements(self.fc1) + _common.kernel_elements(self.fc2)
        pixels = _common.spatial_positions(input_shape, self.data_format)
        return 2 * mlp + _common.kernel_elements(self.spatial_conv) * pixels

    def get_config(self):
        config = super().get_config()
        config.update(
            rd_ratio=self.rd_ratio,
            rd_channels=self.rd_channels,
            rd_divisor=self.rd_divisor,
            spatial_kernel_size=self.spatial_kernel_size,
            activation=self.activation,
            gate=self.gate,
            use_bias=self.use_bias,
            data_format=self.data_format,
        )
        return config
