"""The one eval transform (timm's): resize the shorter side, centre crop, then normalise.

Used by the data pipeline (`keras_senet.data`), the SavedModel's uint8 serving signature and the
`export/` runners, and tested against timm's own PIL transform (``timm.data.create_transform``).

timm (torchvision) semantics, reproduced exactly: the shorter side becomes ``floor(input_size /
crop_pct)`` and the longer ``int(new_short * long / short)`` (truncated); the crop's top-left corner
is ``round((side - input_size) / 2)`` with round-half-to-even (Python's ``round``); the resize is
antialiased with the config's interpolation.
"""

from __future__ import annotations

import numpy as np

# timm interpolation name -> tf.image.resize method.
_TF_METHODS = {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest", "area": "area",
               "lanczos3": "lanczos3"}


def eval_transform(config):
    """A TensorFlow function: RGB pixels ``(height, width, 3)`` or a batch ``(n, height, width, 3)``
    of any size and dtype (values in [0, 255]) -> float32 pixels ``(…, input_size, input_size, 3)`` in
    [0, 255], resized and centre-cropped as timm's eval transform of `config` (a
    `PreprocessingConfig`). Not normalised: see `normalize`."""
    import tensorflow as tf

    size = config.input_size
    short_target = config.resize_size
    method = _TF_METHODS[config.interpolation]

    def transform(pixels):
        images = tf.cast(pixels, tf.float32)
        single = images.shape.rank == 3
        if single:
            images = images[tf.newaxis]
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        short, long = tf.minimum(height, width), tf.maximum(height, width)
        # int(short_target * long / short), computed in int64 then floor-divided: exact truncation.
        new_long = tf.cast(tf.cast(long, tf.int64) * short_target // tf.cast(short, tf.int64), tf.int32)
        new_h = tf.where(height <= width, short_target, new_long)
        new_w = tf.where(height <= width, new_long, short_target)
        images = tf.image.resize(images, tf.stack([new_h, new_w]), method=method, antialias=True)
        top = tf.cast(tf.round(tf.cast(new_h - size, tf.float32) / 2.0), tf.int32)
        left = tf.cast(tf.round(tf.cast(new_w - size, tf.float32) / 2.0), tf.int32)
        images = images[:, top:top + size, left:left + size, :]
        images = tf.clip_by_value(images, 0.0, 255.0)
        images = tf.ensure_shape(images, (None, size, size, images.shape[-1]))
        return images[0] if single else images

    return transform


def normalize(pixels, config, data_format="channels_last"):
    """``(pixels / 255 - mean) / std`` per channel: NumPy in, NumPy out; a tensor in, a tensor out.

    `pixels`: RGB in [0, 255], channels on the last axis (``data_format="channels_first"``: on the
    third-from-last axis).
    """
    shape = (3,) if data_format == "channels_last" else (3, 1, 1)
    mean = np.reshape(np.asarray(config.mean, "float32") * 255.0, shape)
    std = np.reshape(np.asarray(config.std, "float32") * 255.0, shape)
    if isinstance(pixels, (np.ndarray, list, tuple)) or not hasattr(pixels, "dtype"):
        return ((np.asarray(pixels, "float32") - mean) / std).astype("float32")
    import keras

    return (keras.ops.cast(pixels, "float32") - mean) / std


def load_images(paths, config, normalise=True):
    """Image files -> ``(n, input_size, input_size, 3)`` float32 through `eval_transform`, normalised
    unless `normalise` is False (an export with built-in preprocessing takes [0, 255] pixels)."""
    import tensorflow as tf

    transform = eval_transform(config)
    images = []
    for path in paths:
        data = tf.io.read_file(str(path))
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        images.append(transform(image).numpy())
    images = np.stack(images)
    return normalize(images, config) if normalise else images
