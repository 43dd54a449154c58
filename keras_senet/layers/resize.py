"""`NearestResize`: resize a feature map to another's height and width by PyTorch's nearest rule."""

import keras
import numpy as np
from keras import ops

from keras_senet.layers import _common


@keras.saving.register_keras_serializable(package="keras_senet")
class NearestResize(keras.layers.Layer):
    """Resize ``x`` to the spatial size of ``reference`` by nearest neighbour, as PyTorch's
    ``F.interpolate(x, size=reference.shape[-2:], mode="nearest")`` does: output row ``i`` takes input
    row ``floor(i * in / out)``.

    GhostNetV2's DFC attention upsamples its gate (computed at half resolution) this way. Neither
    ``UpSampling2D`` (whole factors only) nor ``ops.image.resize`` (half-pixel centres, a different row
    choice) gives PyTorch's rows when the output is not a whole multiple of the input (a 5x5 block input
    gives a 2x2 gate resized to 5x5), so the rows are gathered explicitly; a doubling is a repeat.

    Args:
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments: ``[x, reference]``, two 4-D tensors. Output: ``x`` with the height and width of
    ``reference`` (and its own batch and channels).
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _common.resolve_data_format(data_format)

    def build(self, input_shape):
        if len(input_shape) != 2 or any(len(shape) != 4 for shape in input_shape):
            raise ValueError(f"{self.name}: expects [x, reference], two 4-D tensors; got shapes {input_shape}")

    def call(self, inputs):
        x, reference = inputs
        for axis in _common.spatial_axes(self.data_format):
            in_size, out_size = x.shape[axis], reference.shape[axis]
            if in_size is not None and out_size is not None:  # static sizes: the rows are constants
                if out_size == in_size:
                    continue
                if out_size == 2 * in_size:
                    x = ops.repeat(x, 2, axis=axis)
                    continue
                rows = np.arange(out_size) * in_size // out_size
            else:
                in_size, out_size = ops.shape(x)[axis], ops.shape(reference)[axis]
                rows = ops.floor_divide(ops.arange(out_size) * in_size, out_size)
            x = ops.take(x, rows, axis=axis)
        return x

    def compute_output_shape(self, input_shape):
        x_shape, reference_shape = (list(shape) for shape in input_shape)
        for axis in _common.spatial_axes(self.data_format):
            x_shape[axis] = reference_shape[axis]
        return tuple(x_shape)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format)
        return config
