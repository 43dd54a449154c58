"""`convert_checkpoint`: a local timm checkpoint -> a Keras ``.weights.h5`` of the full model
(`keras-senet convert`), for machines that should load weights without torch or the network."""

from __future__ import annotations

import os

from keras_senet import _temporary, zoo
from keras_senet.factory import create_model
from keras_senet.weights.loading import apply_state_dict, read_state_dict
from keras_senet.weights.timm_convert import CheckpointMismatchError


def checkpoint_classes(state_dict, classifier):
    """Outputs of the classifier tensor of `state_dict` (Keras layer name `classifier`), or None."""
    for key, value in state_dict.items():
        if key.endswith(".weight") and key.rsplit(".", 1)[0].replace(".", "_") == classifier:
            return int(value.shape[0])
    return None


def convert_checkpoint(model_name, checkpoint, output, overwrite=False):
    """Convert timm checkpoint file `checkpoint` of registry model `model_name` into `output`.

    The output is written to a temporary file beside `output` and renamed into place only after the
    conversion succeeded. Returns ``(output, num_classes)``.
    """
    if not output.endswith(".weights.h5"):
        raise ValueError(f"{output}: the output must end in '.weights.h5'")
    if os.path.exists(output) and not overwrite:
        raise ValueError(f"{output} exists; pass overwrite=True (--overwrite) to replace it")
    checkpoint = os.fspath(checkpoint)
    if checkpoint.endswith((".keras", ".h5")):
        raise ValueError(f"{checkpoint}: convert reads timm checkpoints (.safetensors, .pth, .bin); a Keras "
                         "file needs no conversion: pass it as weights=... (CLI: --weights) directly.")
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"{checkpoint}: no such checkpoint file")
    classifier = zoo.get_entry(model_name).classifier
    state_dict = read_state_dict(checkpoint)
    num_classes = checkpoint_classes(state_dict, classifier)
    if num_classes is None:
        raise CheckpointMismatchError(f"{checkpoint}: no classifier tensor ({classifier}.weight); is it a timm "
                                      f"checkpoint of {model_name!r}?")
    model = create_model(model_name, weights=None, input_shape=(None, None, 3), classes=num_classes,
                         classifier_activation=None)
    apply_state_dict(model, state_dict, classifier, source=checkpoint)
    folder = os.path.dirname(os.path.abspath(output))
    _temporary.sweep(folder, [".partial-"], suffix=".weights.h5")  # those of a killed convert
    partial = _temporary.make_file(".partial-", folder, suffix=".weights.h5")
    try:
        model.save_weights(partial, overwrite=True)
        _temporary.apply_umask(partial)  # the user's umask, not mkstemp's 0600
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return output, num_classes
