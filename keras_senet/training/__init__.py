"""Fine-tuning around `model.fit`: new head, frozen-backbone warm-up, unfreeze, resume.

    ds = load_dataset("/data/pets", "train", model="seresnet50", batch_size=32)
    val = load_dataset("/data/pets", "validation", model="seresnet50", batch_size=64)
    result = finetune("seresnet50", ds, val, num_classes=ds.num_classes, workdir="runs/pets")
    result.model, result.history, result.model_path   # runs/pets/model.keras, runs/pets/history.json
    evaluate(result.model_path, val)                   # {"top1": ..., "top5": ..., "examples": ...}

Phase 1 trains only the new head (the backbone's ``trainable=False`` also keeps its BatchNorm layers
in inference mode, Keras 3 semantics); phase 2 unfreezes the top stages (or all) at a lower learning
rate. Each phase uses AdamW (no weight decay on biases and BatchNorm) with a linear warm-up and cosine
decay, and categorical cross-entropy with label smoothing. The working directory holds per-epoch
checkpoints (``checkpoints/epoch001.weights.h5``), TensorBoard logs (``logs/``) and
backup state as `keras.callbacks.BackupAndRestore` keeps it, but saved atomically (``backup/``):
calling `finetune` again with the same arguments after a crash or kill -- at any moment, a save
included -- resumes at the epoch where it stopped, with every epoch in the history. Runs on the TensorFlow backend
(the distribution strategies are `tf.distribute`'s).

The package is split by concern: `recipe` (finetune, optimizer, callbacks), `freezing`, `distribution`,
`rundir` (working directory, resume, history, atomic saves) and `evaluation`; private Keras internals
are used only through `keras_senet._compat`.
"""

from keras_senet.training.distribution import STRATEGIES, make_strategy
from keras_senet.training.evaluation import evaluate, load_model
from keras_senet.training.freezing import set_trainable
from keras_senet.training.recipe import HEAD_NAME, FinetuneResult, build_classifier, finetune
from keras_senet.training.rundir import PREPROCESSING_FILE, saved_preprocessing

__all__ = ["FinetuneResult", "HEAD_NAME", "PREPROCESSING_FILE", "STRATEGIES", "build_classifier", "evaluate",
           "finetune", "load_model", "make_strategy", "saved_preprocessing", "set_trainable"]
