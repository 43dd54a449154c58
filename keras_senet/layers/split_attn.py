"""Split attention (ResNeSt's "Splat"): a grouped convolution into `radix` splits, fused by a softmax over them."""

import keras
from keras import ops

from keras_senet.layers import _common
from keras_senet.layers._torch_conv import TorchConv2D, conv_output_size


@keras.saving.register_keras_serializable(package="keras_senet")
class SplitAttention(keras.layers.Layer):
    """Split attention convolution (Zhang et al., "ResNeSt: Split-Attention Networks", CVPRW 2022).

    A drop-in replacement for a block's 3x3 convolution (+ BatchNorm + ReLU): ``conv`` (groups
    ``groups * radix``) gives ``radix`` splits of `out_channels` channels each (-> ``bn0`` -> ReLU); their
    sum is average-pooled and squeezed through ``fc1 -> bn1 -> ReLU -> fc2`` (1x1 convolutions with
    `groups` groups and biases), a softmax across the radix splits within each cardinal group (sigmoid when
    ``radix == 1``) weights each split per channel, and the weighted splits are summed. Port of timm's
    ``SplitAttn``; sublayers are named as timm's modules (``conv``, ``bn0``, ``fc1``, ``bn1``, ``fc2``).

    Args:
        out_channels: output channels. Default None: the input channels.
        kernel_size: odd kernel of ``conv``. Default 3.
        stride: stride of ``conv``. Default 1.
        dilation: dilation of ``conv`` (PyTorch padding ``dilation`` for a 3x3 kernel). Default 1.
        groups: cardinality: groups of ``conv`` (times `radix`), ``fc1`` and ``fc2``. Default 1.
        radix: splits per cardinal group. Default 2.
        rd_ratio: attention width as a fraction of ``C_in * radix``, used when `rd_channels` is None.
            Default 0.25.
        rd_channels: attention width per split (``fc1`` has ``rd_channels * radix`` outputs).
            Default None: ``make_divisible(C_in * radix * rd_ratio, rd_divisor, min_value=32)``.
        rd_divisor: the computed attention width is a multiple of this. Default 8.
        use_bias: whether ``conv`` has a bias. Default False.
        batch_norm: BatchNorm after ``conv`` (``bn0``) and ``fc1`` (``bn1``), as ResNeSt uses the layer.
            Default True (timm's ``SplitAttn`` defaults to none; ResNeSt passes ``norm_layer``).
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: 4-D tensor.
        training: BatchNorm mode.

    Input shape: ``(batch, H, W, C_in)`` (channels_last) or ``(batch, C_in, H, W)``.
    Output shape: ``(batch, H', W', out_channels)`` with ``H' = (H - 1) // stride + 1``.

    Weights (created in `build`): ``conv`` Conv2D kernel ``(k, k, C_in / (groups * radix),
    out_channels * radix)``; ``bn0``; ``fc1`` Conv2D 1x1 ``(1, 1, out_channels / groups, rd)`` + bias;
    ``bn1``; ``fc2`` Conv2D 1x1 ``(1, 1, rd / groups, out_channels * radix)`` + bias.
    """

    def __init__(
        self,
        out_channels=None,
        kernel_size=3,
        stride=1,
        dilation=1,
        groups=1,
        radix=2,
        rd_ratio=0.25,
        rd_channels=None,
        rd_divisor=8,
        use_bias=False,
        batch_norm=True,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.out_channels = _common.check_positive_int("out_channels", out_channels, allow_none=True)
        self.kernel_size = _common.check_odd_kernel("kernel_size", kernel_size)
        self.stride = _common.check_positive_int("stride", stride)
        self.dilation = _common.check_positive_int("dilation", dilation)
        self.groups = _common.check_positive_int("groups", groups)
        self.radix = _common.check_positive_int("radix", radix)
        self.rd_ratio = _common.check_positive_number("rd_ratio", rd_ratio)
        self.rd_channels = _common.check_positive_int("rd_channels", rd_channels, allow_none=True)
        self.rd_divisor = _common.check_positive_int("rd_divisor", rd_divisor)
        self.use_bias = bool(use_bias)
        self.batch_norm = bool(batch_norm)
        self.data_format = _common.resolve_data_format(data_format)

    def build(self, input_shape):
        channels = _common.channels_from_shape(self.name, input_shape, self.data_format)
        axis = _common.channel_axis(self.data_format)
        out_channels = self.out_channels or channels
        mid = out_channels * self.radix
        for width in (channels, mid):
            if width % (self.groups * self.radix):
                raise ValueError(f"groups={self.groups} (times radix={self.radix}) does not divide the {width} "
                                 f"channels of {self.name!r}")
        if self.rd_channels is None:
            attn = _common.make_divisible(channels * self.radix * self.rd_ratio, self.rd_divisor, min_value=32)
        else:
            attn = self.rd_channels * self.radix
        if attn % self.groups:
            raise ValueError(f"groups={self.groups} does not divide the attention width {attn} of {self.name!r}")
        dtype = self.dtype_policy

        def norm(name, axis=axis):
            return keras.layers.BatchNormalization(axis=axis, epsilon=1e-5, momentum=0.9, name=name, dtype=dtype)

        def conv1x1(filters, name):  # on (B, 1, 1, C) pooled vectors, whatever data_format is
            return keras.layers.Conv2D(filters, 1, groups=self.groups, data_format="channels_last", name=name,
                                       dtype=dtype)

        self._conv = TorchConv2D(mid, self.kernel_size, self.stride, self.dilation, self.groups * self.radix,
                                 self.use_bias, self.data_format, "conv", dtype)
        self.conv = self._conv.conv
        self._conv.build(input_shape)
        conv_shape = self._conv_output_shape(input_shape, mid)
        self.bn0 = norm("bn0") if self.batch_norm else None
        self.fc1 = conv1x1(attn, "fc1")
        self.bn1 = norm("bn1", axis=-1) if self.batch_norm else None
        self.fc2 = conv1x1(mid, "fc2")
        if self.bn0 is not None:
            self.bn0.build(conv_shape)
            self.bn1.build((None, 1, 1, attn))
        self.fc1.build((None, 1, 1, out_channels))
        self.fc2.build((None, 1, 1, attn))
        self._out_channels = out_channels
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={axis: channels})

    def _conv_output_shape(self, input_shape, channels):
        shape = list(input_shape)
        for axis in _common.spatial_axes(self.data_format):
            if shape[axis] is not None:
                shape[axis] = conv_output_size(shape[axis], self.kernel_size, self.stride, self.dilation)
        shape[_common.channel_axis(self.data_format)] = channels
        return tuple(shape)

    def _splits(self, x):
        """(B, H, W, radix * C) -> list of radix (B, H, W, C) (torch's view(B, radix, C, H, W))."""
        return ops.split(x, self.radix, axis=_common.channel_axis(self.data_format))

    def call(self, inputs, training=None):
        x = self._conv(inputs)
        if self.bn0 is not None:
            x = self.bn0(x, training=training)
        x = ops.relu(x)
        splits = self._splits(x) if self.radix > 1 else [x]
        pooled = _common.squeeze(sum(splits[1:], splits[0]), "avg", self.data_format)  # (B, C)
        hidden = self.fc1(_common.channel_scale(pooled, "channels_last"))  # (B, 1, 1, C)
        if self.bn1 is not None:
            hidden = self.bn1(hidden, training=training)
        logits = ops.reshape(self.fc2(ops.relu(hidden)), (-1, self.radix * self._out_channels))
        if self.radix == 1:
            return x * _common.channel_scale(ops.sigmoid(logits), self.data_format)
        # fc2's outputs are ordered (group, split, channel-in-group); the softmax runs across the splits.
        per_group = self._out_channels // self.groups
        weights = ops.softmax(ops.reshape(logits, (-1, self.groups, self.radix, per_group)), axis=2)
        return sum(split * _common.channel_scale(ops.reshape(weights[:, :, r], (-1, self._out_channels)),
                                                 self.data_format)
                   for r, split in enumerate(splits))

    def compute_output_shape(self, input_shape):
        out = self.out_channels or input_shape[_common.channel_axis(self.data_format)]
        return self._conv_output_shape(input_shape, out)

    def macs(self, input_shape):
        """Multiply-accumulates per sample on `input_shape` (built layer only): ``conv`` at each output
        position, ``fc1`` and ``fc2`` once, as a forward hook on timm's Conv modules counts them."""
        return (self._conv.macs(input_shape) + _common.kernel_elements(self.fc1)
                + _common.kernel_elements(self.fc2))

    def get_config(self):
        config = super().get_config()
        config.update(
            out_channels=self.out_channels,
            kernel_size=self.kernel_size,
            stride=self.stride,
            dilation=self.dilation,
            groups=self.groups,
            radix=self.radix,
            rd_ratio=self.rd_ratio,
            rd_channels=self.rd_channels,
            rd_divisor=self.rd_divisor,
            use_bias=self.use_bias,
            batch_norm=self.batch_norm,
            data_format=self.data_format,
        )
        return config
