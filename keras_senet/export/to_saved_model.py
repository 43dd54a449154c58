"""SavedModel writer: named serving signatures, dynamic batch, optional built-in preprocessing."""

from __future__ import annotations

from keras_senet.export.serving import ends_in_softmax, pixel_preprocessing, serving_model

SERVE = "serve"  # the model-space endpoint (float32 images, as the Keras model takes them)


def write_saved_model(model, path, input_shape, batch_size, config, pixel_endpoint=True):
    """Write `model` as a SavedModel at `path` (a folder).

    Endpoints (signatures):
      * ``serve``: float32 ``(batch, H, W, 3)`` -> ``{"output": model output}``, or the model's named
        outputs ``{"P2": ..., "P3": ...}`` when it has several (`serving.named_outputs`). With `config` the
        input is RGB pixels in [0, 255] normalised inside; without, the model's own input.
      * with `config` and `pixel_endpoint` (single-output models): ``serving_default`` takes uint8
        ``(batch, any H, any W, 3)`` pixels, applies the model's eval transform (resize the shorter side
        to size/crop_pct, centre crop, normalise) and returns ``{"probabilities": ...}`` (softmax added
        when the model outputs logits). Otherwise ``serving_default`` is ``serve``.
    `batch_size` None gives a dynamic batch dimension.
    """
    import gc

    from keras_senet._compat import custom_gradients_released

    with custom_gradients_released():  # the endpoints' traces die with the archive (swish: tensorflow#27492)
        served = _write_archive(model, path, input_shape, batch_size, config, pixel_endpoint)
    gc.collect()  # the traced graphs are webs of reference cycles
    return served


def _write_archive(model, path, input_shape, batch_size, config, pixel_endpoint):
    import keras
    import tensorflow as tf

    served = serving_model(model, input_shape, config)
    archive = keras.export.ExportArchive()
    archive.track(served)
    spec = tf.TensorSpec((batch_size,) + tuple(input_shape), tf.float32, name="pixels" if config else "image")

    def serve(images):
        outputs = served(images, training=False)
        return outputs if isinstance(outputs, dict) else {"output": outputs}

    if config is not None and pixel_endpoint:
        preprocess = pixel_preprocessing(config, input_shape[0])
        add_softmax = not ends_in_softmax(model)

        def serve_pixels(pixels):
            outputs = served(preprocess(pixels), training=False)
            return {"probabilities": tf.nn.softmax(outputs) if add_softmax else outputs}

        archive.add_endpoint("serving_default", serve_pixels, input_signature=[
            tf.TensorSpec((batch_size, None, None, input_shape[-1]), tf.uint8, name="pixels")])
    archive.add_endpoint(SERVE, serve, input_signature=[spec])
    _store_variables_once(archive)
    archive.write_out(path, verbose=False)
    return served


def _store_variables_once(archive):
    """Work around keras-team/keras#23553: ExportArchive saves every weight twice (the tracked
    `keras.Variable` wrappers and the `tf.Variable`s the endpoints capture are different objects, so the
    checkpoint cannot de-duplicate them): 2x file size and 2x variable memory in TF Serving. Tracking
    the underlying `tf.Variable`s makes both collections the same objects."""
    trackable = getattr(archive, "_tf_trackable", None)
    if trackable is None:
        return
    for collection in ("variables", "trainable_variables", "non_trainable_variables"):
        variables = getattr(trackable, collection, None)
        if variables:
            setattr(trackable, collection, [getattr(v, "_value", v) for v in variables])
