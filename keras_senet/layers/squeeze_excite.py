"""Squeeze-and-Excitation (SE) and Effective Squeeze-Excitation (eSE) layers."""

import keras

from keras_senet.layers import _common


@keras.saving.register_keras_serializable(package="keras_senet")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-Excitation block (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018).

    Computes `x * gate(fc2(activation(fc1(squeeze(x)))))`: a global pooled
    channel descriptor goes through a bottleneck MLP whose gated output
    rescales each channel. Port of timm's `SEModule`; with `use_norm=True`
    a BatchNorm follows `fc1` (timm's `norm_layer=BatchNorm2d`, ReXNet's SE).

    Args:
        rd_ratio: bottleneck width as a fraction of the channels, used when
            `rd_channels` is None. Default 1/16.
        rd_channels: bottleneck width. Default None, meaning
            `make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)`.
        rd_divisor: the computed bottleneck width is a multiple of this. Default 8.
        squeeze: global pooling: "avg" (default), "max" or "avgmax"
            (0.5 * avg + 0.5 * max, timm's `add_maxpool=True`).
        activation: keras activation name applied after `fc1`. Default "relu".
        gate: "sigmoid" (default), "hard_sigmoid", "tanh" or "relu".
        use_bias: whether `fc1` and `fc2` have biases. Default True.
        use_norm: BatchNormalization `bn` (PyTorch defaults: epsilon 1e-5,
            momentum 0.9) on the bottleneck, between `fc1` and the activation.
            Default False.
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape: 4-D `(batch, height, width, channels)` (channels_last) or
        `(batch, channels, height, width)` (channels_first).
    Output shape: same as the input.

    Weights (created in `build`): `fc1` Dense(rd_channels), kernel `(C, rd)`;
    `fc2` Dense(C), kernel `(rd, C)`; with `use_norm`, `bn` BatchNormalization(rd).
    """

    def __init__(
        self,
        rd_ratio=1.0 / 16,
        rd_channels=None,
        rd_divisor=8,
        squeeze="avg",
        activation="relu",
        gate="sigmoid",
        use_bias=True,
        data_format=None,
        use_norm=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rd_ratio = _common.check_positive_number("rd_ratio", rd_ratio)
        self.rd_channels = _common.check_positive_int("rd_channels", rd_channels, allow_none=True)
        self.rd_divisor = _common.check_positive_int("rd_divisor", rd_divisor)
        self.squeeze = _common.check_choice("squeeze", squeeze, _common.SQUEEZE_MODES)
        self.activation = activation
        self._activation_fn = _common.resolve_activation(activation)
        self.gate = gate
        self._gate_fn = _common.resolve_gate(gate)
        self.use_bias = bool(use_bias)
        self.use_norm = bool(use_norm)
        self.data_format = _common.resolve_data_format(data_format)

    def build(self, input_shape):
        channels = _common.channels_from_shape(self.name, input_shape, self.data_format)
        rd_channels = self.rd_channels or _common.make_divisible(
            channels * self.rd_ratio, self.rd_divisor, round_limit=0.0
        )
        self.fc1 = keras.layers.Dense(
            rd_channels, use_bias=self.use_bias, name="fc1", dtype=self.dtype_policy
        )
        self.fc2 = keras.layers.Dense(
            channels, use_bias=self.use_bias, name="fc2", dtype=self.dtype_policy
        )
        self.fc1.build((None, channels))
        self.fc2.build((None, rd_channels))
        self.bn = None
        if self.use_norm:  # PyTorch BatchNorm2d defaults, as the timm modules it is converted from
            self.bn = keras.layers.BatchNormalization(
                epsilon=1e-5, momentum=0.9, name="bn", dtype=self.dtype_policy
            )
            self.bn.build((None, rd_channels))
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={_common.channel_axis(self.data_format): channels}
        )

    def excitation(self, inputs, training=None):
        """The gate values: `(batch, channels)` in the gate's range (sigmoid: (0, 1)), what `call` multiplies by.

        Called on a symbolic tensor (e.g. the layer's `input` in a functional model) it returns a symbolic
        tensor, so `keras.Model(model.inputs, layer.excitation(layer.input))` reads the gates out.
        `training` matters only with ``use_norm=True`` (the BatchNorm in the bottleneck).
        """
        descriptor = _common.squeeze(inputs, self.squeeze, self.data_format)  # (B, C)
        hidden = self.fc1(descriptor)
        if self.bn is not None:
            hidden = self.bn(hidden, training=training)
        return self._gate_fn(self.fc2(self._activation_fn(hidden)))

    def call(self, inputs, training=None):
        return inputs * _common.channel_scale(self.excitation(inputs, training=training), self.data_format)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def macs(self, input_shape):
        """Multiply-accumulates per sample on `input_shape` (built layer only).

        Counts `fc1` and `fc2` (each applied once to the pooled vector), like a forward hook on timm's Conv/Linear modules;
        pooling, gates and the rescaling multiply are left out (fvcore convention).
        """
        return _common.kernel_elements(self.fc1) + _common.kernel_elements(self.fc2)

    def get_config(self):
        config = super().get_config()
        config.update(
            rd_ratio=self.rd_ratio,
            rd_channels=self.rd_channels,
            rd_divisor=self.rd_divisor,
            squeeze=self.squeeze,
            activation=self.activation,
            gate=self.gate,
            use_bias=self.use_bias,
            data_format=self.data_format,
            use_norm=self.use_norm,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_senet")
class EffectiveSqueezeExcite(keras.layers.Layer):
    """Effective Squeeze-Excitation, eSE (Lee & Park, "CenterMask: Real-Time Anchor-Free Instance Segmentation", CVPR 2020).

    SE with the bottleneck replaced by a single full-width fully connected
    layer, so no channel information is lost to the reduction:
    `x * gate(fc(squeeze(x)))`. Port of timm's `EffectiveSEModule`.

    Args:
        squeeze: global pooling: "avg" (default) or "avgmax"
            (0.5 * avg + 0.5 * max, timm's `add_maxpool=True`).
        gate: "hard_sigmoid" (default), "sigmoid", "tanh" or "relu".
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape: 4-D `(batch, height, width, channels)` (channels_last) or
        `(batch, channels, height, width)` (channels_first).
    Output shape: same as the input.

    Weights (created in `build`): `fc` Dense(C) with bias, kernel `(C, C)`.
    """

    SQUEEZE_MODES = ("avg", "avgmax")

    def __init__(self, squeeze="avg", gate="hard_sigmoid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.squeeze = _common.check_choice("squeeze", squeeze, self.SQUEEZE_MODES)
        self.gate = gate
        self._gate_fn = _common.resolve_gate(gate)
        self.data_format = _common.resolve_data_format(data_format)

    def build(self, input_shape):
        channels = _common.channels_from_shape(self.name, input_shape, self.data_format)
        self.fc = keras.layers.Dense(channels, use_bias=True, name="fc", dtype=self.dtype_policy)
        self.fc.build((None, channels))
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={_common.channel_axis(self.data_format): channels}
        )

    def excitation(self, inputs):
        """The gate values `(batch, channels)` that `call` multiplies the input by (see `SqueezeExcite.excitation`)."""
        descriptor = _common.squeeze(inputs, self.squeeze, self.data_format)  # (B, C)
        return self._gate_fn(self.fc(descriptor))

    def call(self, inputs):
        return inputs * _common.channel_scale(self.excitation(inputs), self.data_format)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def macs(self, input_shape):
        """Multiply-accumulates per sample on `input_shape` (built layer only).

        Counts `fc` (applied once to the pooled vector), like a forward hook on timm's Conv/Linear modules;
        pooling, gates and the rescaling multiply are left out (fvcore convention).
        """
        return _common.kernel_elements(self.fc)

    def get_config(self):
        config = super().get_config()
        config.update(squeeze=self.squeeze, gate=self.gate, data_format=self.data_format)
        return config
