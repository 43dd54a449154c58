"""Selective Kernel convolution (SK): parallel conv branches fused by a softmax attention over the branches."""

import keras
from keras import ops

from keras_senet.layers import _common
from keras_senet.layers._torch_conv import ConvNormAct, conv_output_size


def _check_kernel_sizes(kernel_size):
    sizes = list(kernel_size) if isinstance(kernel_size, (list, tuple)) else [kernel_size, kernel_size]
    if len(sizes) < 2 or any(isinstance(k, bool) or not isinstance(k, int) or k < 3 or k % 2 == 0
                             for k in sizes):
        raise ValueError(f"kernel_size={kernel_size!r} is not an odd int >= 3 or a list of at least two")
    return sizes


@keras.saving.register_keras_serializable(package="keras_senet")
class SelectiveKernel(keras.layers.Layer):
    """Selective Kernel convolution (Li et al., "Selective Kernel Networks", CVPR 2019).

    A drop-in replacement for a block's 3x3 convolution + BatchNorm + ReLU: each of ``len(kernel_size)``
    branches is a convolution -> BatchNorm -> ReLU (timm's ``ConvNormAct``), the branch outputs are summed,
    average-pooled and squeezed through ``fc_reduce -> BN -> ReLU -> fc_select``, and a softmax across the
    branches weights each branch per channel before the branches are summed. Port of timm's
    ``SelectiveKernel`` with its ``SelectiveKernelAttn``; sublayers are named as timm's modules
    (``paths[i].conv``, ``paths[i].bn``, ``attn.fc_reduce``, ``attn.bn``, ``attn.fc_select``), so a timm
    checkpoint converts by name.

    Args:
        out_channels: output channels. Default None: the input channels.
        kernel_size: the branches' kernel sizes (odd, >= 3), or one size for two branches. Default
            ``(3, 5)``. With `keep_3x3` a k x k branch is a 3x3 convolution of dilation
            ``dilation * (k - 1) // 2`` (a 5x5 field of view at 3x3 cost).
        stride: stride of every branch. Default 1.
        dilation: dilation of the layer as a whole. Default 1.
        groups: groups of every branch's convolution (capped at `out_channels`). Default 1.
        rd_ratio: attention width as a fraction of `out_channels`, used when `rd_channels` is None.
            Default 1/16.
        rd_channels: attention width. Default None: ``make_divisible(out_channels * rd_ratio, rd_divisor)``.
        rd_divisor: the computed attention width is a multiple of this. Default 8.
        keep_3x3: 3x3 kernels with dilation instead of larger kernels. Default True.
        split_input: split the input channels evenly across the branches (each branch sees
            ``C / len(kernel_size)`` channels; the input channels must divide). Default True.
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: 4-D tensor.
        training: BatchNorm mode (batch statistics when True, moving statistics otherwise).

    Input shape: ``(batch, H, W, C)`` (channels_last) or ``(batch, C, H, W)``.
    Output shape: ``(batch, H', W', out_channels)`` (or channels-first) with PyTorch's convolution
        arithmetic: ``H' = (H - 1) // stride + 1``.

    Weights (created in `build`): per branch ``paths[i].conv`` Conv2D kernel
    ``(3, 3, C_in / groups, out_channels)`` and ``paths[i].bn``; ``attn.fc_reduce`` Dense
    ``(out_channels, rd)`` no bias; ``attn.bn`` over rd; ``attn.fc_select`` Dense
    ``(rd, out_channels * branches)`` no bias.
    """

    def __init__(
        self,
        out_channels=None,
        kernel_size=(3, 5),
        stride=1,
        dilation=1,
        groups=1,
        rd_ratio=1.0 / 16,
        rd_channels=None,
        rd_divisor=8,
        keep_3x3=True,
        split_input=True,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.out_channels = _common.check_positive_int("out_channels", out_channels, allow_none=True)
        self.kernel_size = _check_kernel_sizes(kernel_size)
        self.stride = _common.check_positive_int("stride", stride)
        self.dilation = _common.check_positive_int("dilation", dilation)
        self.groups = _common.check_positive_int("groups", groups)
        self.rd_ratio = _common.check_positive_number("rd_ratio", rd_ratio)
        self.rd_channels = _common.check_positive_int("rd_channels", rd_channels, allow_none=True)
        self.rd_divisor = _common.check_positive_int("rd_divisor", rd_divisor)
        self.keep_3x3 = bool(keep_3x3)
        self.split_input = bool(split_input)
        self.data_format = _common.resolve_data_format(data_format)

    @property
    def num_paths(self):
        return len(self.kernel_size)

    def _branches(self):
        """(kernel, dilation) of each branch, as timm derives them."""
        if self.keep_3x3:
            return [(3, self.dilation * (k - 1) // 2) for k in self.kernel_size]
        return [(k, self.dilation) for k in self.kernel_size]

    def build(self, input_shape):
        channels = _common.channels_from_shape(self.name, input_shape, self.data_format)
        axis = _common.channel_axis(self.data_format)
        out_channels = self.out_channels or channels
        path_shape = list(input_shape)
        if self.split_input:
            if channels % self.num_paths:
                raise ValueError(f"{self.name}: split_input=True needs the {channels} input channels to "
                                 f"divide among {self.num_paths} branches")
            path_shape[axis] = channels // self.num_paths
        groups = min(out_channels, self.groups)
        self.paths = [
            ConvNormAct(out_channels, kernel, self.stride, dilation, groups, data_format=self.data_format,
                        name=f"paths_{i}", dtype=self.dtype_policy)
            for i, (kernel, dilation) in enumerate(self._branches())
        ]
        for path in self.paths:
            path.build(tuple(path_shape))
        rd = self.rd_channels or _common.make_divisible(out_channels * self.rd_ratio, self.rd_divisor)
        self.attn = _SelectiveKernelAttn(out_channels, self.num_paths, rd, name="attn", dtype=self.dtype_policy)
        self.attn.build((None, out_channels))
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={axis: channels})

    def call(self, inputs, training=None):
        axis = _common.channel_axis(self.data_format)
        if self.split_input:
            parts = ops.split(inputs, self.num_paths, axis=axis)
        else:
            parts = [inputs] * self.num_paths
        branches = [path(part, training=training) for path, part in zip(self.paths, parts)]
        pooled = _common.squeeze(sum(branches[1:], branches[0]), "avg", self.data_format)  # (B, C)
        weights = self.attn(pooled, training=training)  # (B, paths, C), softmax over paths
        return sum(branch * _common.channel_scale(weights[:, i], self.data_format)
                   for i, branch in enumerate(branches))

    def compute_output_shape(self, input_shape):
        kernel, dilation = self._branches()[0]  # every branch gives the same size, as timm's stack needs
        shape = list(input_shape)
        for axis in _common.spatial_axes(self.data_format):
            if shape[axis] is not None:
                shape[axis] = conv_output_size(shape[axis], kernel, self.stride, dilation)
        axis = _common.channel_axis(self.data_format)
        shape[axis] = self.out_channels or shape[axis]
        return tuple(shape)

    def macs(self, input_shape):
        """Multiply-accumulates per sample on `input_shape` (built layer only): every branch convolution at
        each output position and the two attention projections once, as a forward hook on timm's
        Conv/Linear modules counts them; BatchNorm, pooling and the weighting are left out."""
        shape = list(input_shape)
        if self.split_input:
            shape[_common.channel_axis(self.data_format)] //= self.num_paths
        return (sum(path.macs(tuple(shape)) for path in self.paths)
                + _common.kernel_elements(self.attn.fc_reduce) + _common.kernel_elements(self.attn.fc_select))

    def get_config(self):
        config = super().get_config()
        config.update(
            out_channels=self.out_channels,
            kernel_size=list(self.kernel_size),
            stride=self.stride,
            dilation=self.dilation,
            groups=self.groups,
            rd_ratio=self.rd_ratio,
            rd_channels=self.rd_channels,
            rd_divisor=self.rd_divisor,
            keep_3x3=self.keep_3x3,
            split_input=self.split_input,
            data_format=self.data_format,
        )
        return config


class _SelectiveKernelAttn(keras.layers.Layer):
    """timm's ``SelectiveKernelAttn`` on the pooled branch sum: (B, C) -> (B, paths, C) branch weights
    (``fc_reduce`` no bias -> BatchNorm -> ReLU -> ``fc_select`` no bias -> softmax over the paths)."""

    def __init__(self, channels, num_paths, attn_channels, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.num_paths, self.attn_channels = channels, num_paths, attn_channels
        self.fc_reduce = keras.layers.Dense(attn_channels, use_bias=False, name="fc_reduce", dtype=self.dtype_policy)
        self.bn = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="bn", dtype=self.dtype_policy)
        self.fc_select = keras.layers.Dense(channels * num_paths, use_bias=False, name="fc_select",
                                            dtype=self.dtype_policy)

    def build(self, input_shape):
        self.fc_reduce.build((None, self.channels))
        self.bn.build((None, self.attn_channels))
        self.fc_select.build((None, self.attn_channels))

    def call(self, pooled, training=None):
        hidden = ops.relu(self.bn(self.fc_reduce(pooled), training=training))
        logits = ops.reshape(self.fc_select(hidden), (-1, self.num_paths, self.channels))
        return ops.softmax(logits, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, num_paths=self.num_paths, attn_channels=self.attn_channels)
        return config
