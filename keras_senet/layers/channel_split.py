"""`SplitChannels`: split a feature map into channel groups of given sizes (MixNet's mixed convolutions)."""

import keras
from keras import ops

from keras_senet.layers import _common


@keras.saving.register_keras_serializable(package="keras_senet")
class SplitChannels(keras.layers.Layer):
    """Split the channels of a 4-D tensor into consecutive groups of `splits` channels (torch.split).

    A layer rather than a Lambda, so models that use it save and load with ``safe_mode=True``; it
    becomes one SPLIT_V op in TFLite and one Split in ONNX.

    Args:
        splits: channels of each group, e.g. ``(22, 21, 21)``; they must add up to the input channels.
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments.

    Input shape: 4-D with ``sum(splits)`` channels. Output: a list of ``len(splits)`` tensors.
    """

    def __init__(self, splits, data_format=None, **kwargs):
        super().__init__(**kwargs)
        splits = tuple(splits)
        if len(splits) < 2:
            raise ValueError(f"splits={splits!r} must list at least two group sizes")
        for size in splits:
            _common.check_positive_int("splits", size)
        self.splits = splits
        self.data_format = _common.resolve_data_format(data_format)

    def build(self, input_shape):
        channels = _common.channels_from_shape(self.name, input_shape, self.data_format)
        if channels != sum(self.splits):
            raise ValueError(f"{self.name}: splits {self.splits} add up to {sum(self.splits)} channels, "
                             f"the input has {channels}")

    def call(self, inputs):
        boundaries = [sum(self.splits[:i]) for i in range(1, len(self.splits))]
        return ops.split(inputs, boundaries, axis=_common.channel_axis(self.data_format))

    def compute_output_shape(self, input_shape):
        axis = _common.channel_axis(self.data_format) % 4
        shapes = []
        for size in self.splits:
            shape = list(input_shape)
            shape[axis] = size
            shapes.append(tuple(shape))
        return shapes

    def get_config(self):
        config = super().get_config()
        config.update(splits=list(self.splits), data_format=self.data_format)
        return config
