"""An attention layer blended into the identity by a learnable scale: starts as the identity when the scale is 0."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_senet")
class ScaledAttention(keras.layers.Layer):
    """`x + scale * (attention(x) - x)`, with one learnable scalar `scale` (default initial value 0).

    With ``scale_init=0`` the layer is exactly the identity when inserted, whatever the attention kind
    (SE, ECA, CBAM, scSE, ...) and whatever its random initialisation, so a trained network keeps its
    function and fine-tuning starts from the same outputs (the ReZero / LayerScale trick: Bachlechner et
    al. 2020, Touvron et al. 2021). The scale receives a gradient from the first step,
    `sum(dL/dy * (attention(x) - x))`, and the attention's own weights start learning once it moves off 0.
    For a channel attention `attention(x) = x * g`, the layer is `x * (1 + scale * (g - 1))`: the
    effective gate starts at exactly 1.

    Args:
        attention: the wrapped attention layer (e.g. `keras_senet.layers.get_attention("se")`).
        scale_init: initial value of `scale`. Default 0.0 (identity at insertion).
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Input shape: 4-D, as the wrapped layer. Output shape: same as the input.

    Weights: `scale` (a scalar) and the wrapped layer's.
    """

    def __init__(self, attention, scale_init=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(attention, dict):
            attention = keras.saving.deserialize_keras_object(attention)
        if not isinstance(attention, keras.layers.Layer):
            raise ValueError(f"attention={attention!r} is not a keras.layers.Layer")
        if isinstance(scale_init, bool) or not isinstance(scale_init, (int, float)):
            raise ValueError(f"scale_init={scale_init!r} is not a number")
        self.attention = attention
        self.scale_init = float(scale_init)

    def build(self, input_shape):
        if not self.attention.built:
            self.attention.build(input_shape)
        self.scale = self.add_weight(name="scale", shape=(), initializer=keras.initializers.Constant(self.scale_init))

    def excitation(self, inputs):
        """The effective channel gate `(batch, channels)`: `1 + scale * (g - 1)` for the wrapped layer's gate g.

        Exact for channel attention (SE, eSE, ECA); for CBAM and scSE it is the channel part only.
        """
        return 1.0 + self.scale * (self.attention.excitation(inputs) - 1.0)

    def call(self, inputs, training=None):
        return inputs + ops.cast(self.scale, inputs.dtype) * (self.attention(inputs, training=training) - inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def macs(self, input_shape):
        """The wrapped layer's multiply-accumulates (the blend is element-wise work, left out as usual)."""
        return self.attention.macs(input_shape) if hasattr(self.attention, "macs") else 0

    def get_config(self):
        config = super().get_config()
        config.update(attention=keras.saving.serialize_keras_object(self.attention), scale_init=self.scale_init)
        return config
