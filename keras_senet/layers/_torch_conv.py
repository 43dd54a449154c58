"""Convolutions with PyTorch's padding arithmetic inside the branch-selecting layers (SK, split attention).

PyTorch pads a convolution symmetrically by ``((stride - 1) + dilation * (kernel_size - 1)) // 2`` (timm's
``get_padding``); Keras' ``"same"`` pads the extra pixel bottom/right only, and Keras refuses strides and
dilation above 1 together. So the input is zero-padded explicitly and the convolution runs ``"valid"``;
a strided dilated convolution runs as an undilated one on the padded input subsampled by the stride when
stride == dilation (it only ever reads those pixels: SK's stride-2 5x5-as-dilated-3x3 branch), otherwise
at stride 1 with its output subsampled. Both are exactly PyTorch's result.

The convolution itself always runs channels-last: a channels_first input is transposed around it
(`_common.channels_last_shape` says why).
"""

import keras
from keras import ops

from keras_senet.layers import _common


def torch_padding(kernel_size, stride, dilation):
    """timm's ``get_padding``: symmetric zero padding per side."""
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


def conv_output_size(size, kernel_size, stride, dilation):
    """Output side of a PyTorch convolution with `torch_padding` on an input side `size`."""
    pad = torch_padding(kernel_size, stride, dilation)
    return (size + 2 * pad - dilation * (kernel_size - 1) - 1) // stride + 1


def _subsample(x, step):
    """Every `step`-th row and column of a channels-last 4-D tensor."""
    return x[:, ::step, ::step, :]


class TorchConv2D:
    """A Keras ``Conv2D`` sublayer plus the padding / stride / dilation plan that makes it PyTorch's.

    Not a layer: the owning layer keeps ``.conv`` (the Keras ``Conv2D``, whose weights the checkpoint
    converter fills) as its attribute and calls `__call__`.
    """

    def __init__(self, filters, kernel_size, stride, dilation, groups, use_bias, data_format, name, dtype):
        self.kernel_size, self.stride, self.dilation = kernel_size, stride, dilation
        self.data_format = data_format
        self.pad = torch_padding(kernel_size, stride, dilation)
        both = stride > 1 and dilation > 1
        self.input_step = stride if both and stride == dilation else 1
        self.output_step = stride if both and stride != dilation else 1
        self.conv = keras.layers.Conv2D(
            filters, kernel_size,
            strides=1 if both else stride,
            dilation_rate=1 if both and stride == dilation else dilation,
            padding="valid", groups=groups, use_bias=use_bias, data_format="channels_last",
            name=name, dtype=dtype)

    def padded_shape(self, input_shape):
        """The channels-last shape that `conv` sees for an `input_shape` in `data_format`."""
        shape = list(_common.channels_last_shape(input_shape, self.data_format))
        for axis in (1, 2):
            if shape[axis] is not None:
                shape[axis] = shape[axis] + 2 * self.pad
                if self.input_step > 1:
                    shape[axis] = -(-shape[axis] // self.input_step)
        return tuple(shape)

    def build(self, input_shape):
        self.conv.build(self.padded_shape(input_shape))

    def __call__(self, x):
        x = _common.to_channels_last(x, self.data_format)
        if self.pad:
            x = ops.pad(x, [(0, 0), (self.pad, self.pad), (self.pad, self.pad), (0, 0)])
        if self.input_step > 1:
            x = _subsample(x, self.input_step)
        y = self.conv(x)
        if self.output_step > 1:
            y = _subsample(y, self.output_step)
        return _common.from_channels_last(y, self.data_format)

    def output_positions(self, input_shape):
        """Output height * width on `input_shape` (MACs need a fixed size)."""
        _common.spatial_positions(input_shape, self.data_format)  # ValueError on an unknown height or width
        height, width = (input_shape[a] for a in _common.spatial_axes(self.data_format))
        return (conv_output_size(int(height), self.kernel_size, self.stride, self.dilation)
                * conv_output_size(int(width), self.kernel_size, self.stride, self.dilation))

    def macs(self, input_shape):
        return _common.kernel_elements(self.conv) * self.output_positions(input_shape)


class ConvNormAct(keras.layers.Layer):
    """Convolution (PyTorch padding, no bias) -> BatchNorm (torch defaults) -> optional ReLU: timm's
    ``ConvNormAct`` with sublayers ``conv`` and ``bn``. A building block of `SelectiveKernel`, built by it.

    Input: 4-D; output: `filters` channels, spatial sides as PyTorch's convolution gives.
    """

    def __init__(self, filters, kernel_size=3, stride=1, dilation=1, groups=1, apply_act=True,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.stride = filters, kernel_size, stride
        self.dilation, self.groups, self.apply_act = dilation, groups, apply_act
        self.data_format = _common.resolve_data_format(data_format)
        self._conv = TorchConv2D(filters, kernel_size, stride, dilation, groups, False, self.data_format,
                                 "conv", self.dtype_policy)
        self.conv = self._conv.conv
        self.bn = keras.layers.BatchNormalization(axis=_common.channel_axis(self.data_format), epsilon=1e-5,
                                                  momentum=0.9, name="bn", dtype=self.dtype_policy)

    def build(self, input_shape):
        self._conv.build(input_shape)
        self.bn.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        y = self.bn(self._conv(inputs), training=training)
        return ops.relu(y) if self.apply_act else y

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis in _common.spatial_axes(self.data_format):
            if shape[axis] is not None:
                shape[axis] = conv_output_size(shape[axis], self.kernel_size, self.stride, self.dilation)
        shape[_common.channel_axis(self.data_format)] = self.filters
        return tuple(shape)

    def macs(self, input_shape):
        return self._conv.macs(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, stride=self.stride,
                      dilation=self.dilation, groups=self.groups, apply_act=self.apply_act,
                      data_format=self.data_format)
        return config
