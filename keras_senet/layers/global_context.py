"""Global Context (GC) attention: SE's excitation applied to a non-local, attention-pooled context."""

import keras
from keras import ops

from keras_senet.layers import _common


@keras.saving.register_keras_serializable(package="keras_senet")
class GlobalContext(keras.layers.Layer):
    """Global Context block (Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and
    Beyond", ICCVW 2019).

    The context is the input averaged over all positions with weights ``softmax_{HW}(conv_attn(x))`` (a
    1x1 convolution to one channel, with bias), or the plain average without `use_attn`; a bottleneck
    ``fc1 -> LayerNorm -> activation -> fc2`` of the context (timm's ``ConvMlp`` with ``LayerNorm2d``,
    epsilon 1e-6) then rescales the channels (``mlp_scale``: ``x * gate(mlp(context))``) and/or is added to
    every position (``mlp_add``: ``x + mlp(context)``). Port of timm's ``GlobalContext``; sublayers named as
    timm's modules (``conv_attn``, ``mlp_scale.fc1``, ``mlp_scale.norm``, ``mlp_scale.fc2``, ``mlp_add.*``).

    Args:
        use_attn: attention pooling (True, default) or global average pooling.
        fuse_add: add ``mlp_add(context)`` to the input. Default False.
        fuse_scale: scale the input by ``gate(mlp_scale(context))``. Default True.
        rd_ratio: bottleneck width as a fraction of the channels, used when `rd_channels` is None.
            Default 1/8.
        rd_channels: bottleneck width. Default None: ``make_divisible(C * rd_ratio, rd_divisor,
            round_limit=0)``.
        rd_divisor: the computed bottleneck width is a multiple of this. Default 1.
        activation: keras activation name inside the bottleneck. Default "relu".
        gate: "sigmoid" (default), "hard_sigmoid", "tanh" or "relu".
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape: 4-D ``(batch, H, W, C)`` (channels_last) or ``(batch, C, H, W)``.
    Output shape: same as the input.

    Weights (created in `build`): ``conv_attn`` Dense(1) on the channel axis (a 1x1 convolution), kernel
    ``(C, 1)`` + bias; per MLP ``fc1`` Dense(rd) ``(C, rd)`` + bias, ``norm`` LayerNormalization over rd,
    ``fc2`` Dense(C) ``(rd, C)`` + bias. With `fuse_add`, ``mlp_add.fc2`` starts at zero (timm's init).
    """

    def __init__(
        self,
        use_attn=True,
        fuse_add=False,
        fuse_scale=True,
        rd_ratio=1.0 / 8,
        rd_channels=None,
        rd_divisor=1,
        activation="relu",
        gate="sigmoid",
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.use_attn = bool(use_attn)
        self.fuse_add = bool(fuse_add)
        self.fuse_scale = bool(fuse_scale)
        if not (self.fuse_add or self.fuse_scale):
            raise ValueError(f"fuse_add={fuse_add!r} and fuse_scale={fuse_scale!r}: at least one must be True")
        self.rd_ratio = _common.check_positive_number("rd_ratio", rd_ratio)
        self.rd_channels = _common.check_positive_int("rd_channels", rd_channels, allow_none=True)
        self.rd_divisor = _common.check_positive_int("rd_divisor", rd_divisor)
        self.activation = activation
        self._activation_fn = _common.resolve_activation(activation)
        self.gate = gate
        self._gate_fn = _common.resolve_gate(gate)
        self.data_format = _common.resolve_data_format(data_format)

    def build(self, input_shape):
        channels = _common.channels_from_shape(self.name, input_shape, self.data_format)
        rd = self.rd_channels or _common.make_divisible(channels * self.rd_ratio, self.rd_divisor, round_limit=0.0)
        dtype = self.dtype_policy
        self.conv_attn = keras.layers.Dense(1, name="conv_attn", dtype=dtype) if self.use_attn else None
        if self.conv_attn is not None:
            self.conv_attn.build((None, channels))
        self.mlp_scale = _ContextMlp(channels, rd, self.activation, name="mlp_scale", dtype=dtype) \
            if self.fuse_scale else None
        self.mlp_add = _ContextMlp(channels, rd, self.activation, zero_last=True, name="mlp_add", dtype=dtype) \
            if self.fuse_add else None
        for mlp in (self.mlp_scale, self.mlp_add):
            if mlp is not None:
                mlp.build((None, channels))
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={_common.channel_axis(self.data_format): channels})

    def _context(self, inputs):
        """(B, C): the attention-weighted (or plain) mean over the positions."""
        axes = _common.spatial_axes(self.data_format)
        if self.conv_attn is None:
            return ops.mean(inputs, axis=axes)
        # Dense acts on the last axis, so the 1x1 conv runs on a channels-last view: (B, H, W, 1).
        logits = self.conv_attn(_common.to_channels_last(inputs, self.data_format))
        logits = logits - ops.max(logits, axis=(1, 2), keepdims=True)  # softmax over H*W, stabilised
        weights = ops.exp(logits)
        weights = _common.from_channels_last(weights / ops.sum(weights, axis=(1, 2), keepdims=True),
                                             self.data_format)
        return ops.sum(inputs * weights, axis=axes)

    def call(self, inputs):
        context = self._context(inputs)
        x = inputs
        if self.mlp_scale is not None:
            x = x * _common.channel_scale(self._gate_fn(self.mlp_scale(context)), self.data_format)
        if self.mlp_add is not None:
            x = x + _common.channel_scale(self.mlp_add(context), self.data_format)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def macs(self, input_shape):
        """Multiply-accumulates per sample on `input_shape` (built layer only): ``conv_attn`` at every
        position and each MLP once, as a forward hook on timm's Conv modules counts them; the pooling
        product, LayerNorm, gate and fusion are left out (fvcore convention)."""
        total = 0
        if self.conv_attn is not None:
            total += _common.kernel_elements(self.conv_attn) * _common.spatial_positions(input_shape, self.data_format)
        for mlp in (self.mlp_scale, self.mlp_add):
            if mlp is not None:
                total += _common.kernel_elements(mlp.fc1) + _common.kernel_elements(mlp.fc2)
        return total

    def get_config(self):
        config = super().get_config()
        config.update(
            use_attn=self.use_attn,
            fuse_add=self.fuse_add,
            fuse_scale=self.fuse_scale,
            rd_ratio=self.rd_ratio,
            rd_channels=self.rd_channels,
            rd_divisor=self.rd_divisor,
            activation=self.activation,
            gate=self.gate,
            data_format=self.data_format,
        )
        return config


class _ContextMlp(keras.layers.Layer):
    """timm's ``ConvMlp(C, rd, norm_layer=LayerNorm2d)`` on the (B, C) context: fc1 -> LayerNorm -> act -> fc2."""

    def __init__(self, channels, hidden, activation, zero_last=False, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.hidden, self.activation, self.zero_last = channels, hidden, activation, zero_last
        self._activation_fn = _common.resolve_activation(activation)
        dtype = self.dtype_policy
        self.fc1 = keras.layers.Dense(hidden, name="fc1", dtype=dtype)
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, name="norm", dtype=dtype)
        self.fc2 = keras.layers.Dense(channels, kernel_initializer="zeros" if zero_last else "glorot_uniform",
                                      name="fc2", dtype=dtype)

    def build(self, input_shape):
        self.fc1.build((None, self.channels))
        self.norm.build((None, self.hidden))
        self.fc2.build((None, self.hidden))

    def call(self, context):
        return self.fc2(self._activation_fn(self.norm(self.fc1(context))))

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, hidden=self.hidden, activation=self.activation,
                      zero_last=self.zero_last)
        return config
