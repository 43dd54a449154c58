"""Efficient Channel Attention (ECA) layer, with timm's circular-padding variant (CECA)."""

import math

import keras
from keras import ops

from keras_senet.layers import _common


def eca_kernel_size(channels, gamma=2, beta=1):
    """Adaptive 1-D kernel size of ECA-Net for `channels` input channels.

    `t = int(|log2(channels) + beta| / gamma)`, bumped to `t + 1` when even,
    and at least 3: exactly timm's `EcaModule` formula (the paper's
    "nearest odd" is implemented by flooring, then rounding up to odd).
    """
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


@keras.saving.register_keras_serializable(package="keras_senet")
class EfficientChannelAttention(keras.layers.Layer):
    """Efficient Channel Attention (Wang et al., "ECA-Net: Efficient Channel Attention for Deep CNNs", CVPR 2020).

    Replaces SE's bottleneck MLP with a 1-D convolution across the channel
    axis of the average-pooled descriptor:
    `x * gate(conv1d(pad(avgpool(x))))`. Port of timm's `EcaModule`
    (`circular=False`) and `CecaModule` (`circular=True`, channel sequence
    padded circularly so that the first and last channels interact).

    Args:
        kernel_size: odd 1-D kernel size. Default None, meaning
            `eca_kernel_size(channels, gamma, beta)` computed in `build`.
        gamma: divisor in the adaptive kernel-size formula. Default 2.
        beta: offset in the adaptive kernel-size formula. Default 1.
        circular: pad the channel sequence circularly instead of with zeros.
            Default False.
        gate: "sigmoid" (default), "hard_sigmoid", "tanh" or "relu".
        data_format: "channels_last" or "channels_first". Default None, meaning
            `keras.config.image_data_format()`.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape: 4-D `(batch, height, width, channels)` (channels_last) or
        `(batch, channels, height, width)` (channels_first).
    Output shape: same as the input.

    Weights (created in `build`): `conv` Conv1D(1, kernel_size, no bias) over
    the channels seen as a length-C sequence with one feature; kernel
    `(kernel_size, 1, 1)` (timm's Conv1d weight `(1, 1, k)` transposed).
    """

    def __init__(
        self,
        kernel_size=None,
        gamma=2,
        beta=1,
        circular=False,
        gate="sigmoid",
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = _common.check_odd_kernel("kernel_size", kernel_size, allow_none=True)
        self.gamma = _common.check_positive_number("gamma", gamma)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)):
            raise ValueError(f"beta={beta!r} is not a number")
        self.beta = beta
        self.circular = bool(circular)
        self.gate = gate
        self._gate_fn = _common.resolve_gate(gate)
        self.data_format = _common.resolve_data_format(data_format)

    def build(self, input_shape):
        channels = _common.channels_from_shape(self.name, input_shape, self.data_format)
        kernel_size = self.kernel_size or eca_kernel_size(channels, self.gamma, self.beta)
        self._pad = (kernel_size - 1) // 2
        if self.circular and self._pad > channels:
            raise ValueError(
                f"kernel_size={kernel_size} needs circular padding {self._pad} wider than "
                f"the {channels} input channels"
            )
        # The pooled descriptor is laid out as (B, C, 1) whatever the layer's
        # data_format, so the conv's own data_format is pinned to channels_last.
        self.conv = keras.layers.Conv1D(
            1,
            kernel_size,
            padding="valid",
            use_bias=False,
            data_format="channels_last",
            name="conv",
            dtype=self.dtype_policy,
        )
        self.conv.build((None, channels + 2 * self._pad, 1))
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={_common.channel_axis(self.data_format): channels}
        )

    def _pad_channels(self, sequence):
        """Pad a (B, C, 1) sequence by `self._pad` on both ends of the channel axis."""
        pad = self._pad
        if pad == 0:
            return sequence
        if self.circular:
            return ops.concatenate([sequence[:, -pad:], sequence, sequence[:, :pad]], axis=1)
        return ops.pad(sequence, ((0, 0), (pad, pad), (0, 0)))

    def excitation(self, inputs):
        """The gate values `(batch, channels)` that `call` multiplies the input by (see `SqueezeExcite.excitation`)."""
        descriptor = _common.squeeze(inputs, "avg", self.data_format)  # (B, C)
        sequence = self._pad_channels(ops.expand_dims(descriptor, -1))  # (B, C + 2p, 1)
        return self._gate_fn(ops.squeeze(self.conv(sequence), -1))  # (B, C)

    def call(self, inputs):
        return inputs * _common.channel_scale(self.excitation(inputs), self.data_format)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def macs(self, input_shape):
        """Multiply-accumulates per sample on `input_shape` (built layer only).

        Counts `conv` (kernel_size MACs at each of the C channel positions), like a forward hook on timm's Conv/Linear modules;
        pooling, gates and the rescaling multiply are left out (fvcore convention).
        """
        channels = input_shape[_common.channel_axis(self.data_format)]
        return _common.kernel_elements(self.conv) * int(channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size,
            gamma=self.gamma,
            beta=self.beta,
            circular=self.circular,
            gate=self.gate,
            data_format=self.data_format,
        )
        return config
