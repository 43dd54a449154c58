"""Distribution: `tf.distribute` strategies by name, the chief worker, BatchNorm statistics averaged
over replicas. The multi-worker `fit` workaround is `keras_senet._compat.multi_worker_fit`."""

from __future__ import annotations

import os

from keras_senet import _compat

STRATEGIES = ("default", "mirrored", "multi_worker")


def make_strategy(name="default"):
    """A `tf.distribute.Strategy` by name.

    ``"default"`` (one device), ``"mirrored"`` (all local GPUs, else all logical CPUs), ``"multi_worker"``
    (`tf.distribute.MultiWorkerMirroredStrategy`, cluster from the ``TF_CONFIG`` environment
    variable). Create it at the start of the program, before any dataset or model: TensorFlow
    configures collective ops only once.
    """
    import tensorflow as tf

    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # All GPUs; without GPUs, all logical CPU devices (tf.config.set_logical_device_configuration).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("strategy='multi_worker' needs the TF_CONFIG environment variable (cluster "
                             "workers and this process' task), see tf.distribute.MultiWorkerMirroredStrategy.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy={name!r} is not one of {', '.join(STRATEGIES)}")


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in ("chief", None) or (
        resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs)


class _AverageBatchNormStatistics:
    """Averages BatchNorm moving statistics over all replicas at each epoch end.

    Keras 3 updates them per replica from the local batch (they are not trainable, so no gradient
    all-reduce reaches them): without this, replicas and workers end an epoch with different weights.
    The mean of the replicas' moving means is the moving mean of the global batches; for the variance
    it leaves out the spread between replicas' batch means (small for shuffled data).
    """

    def __new__(cls, strategy):
        import keras
        import tensorflow as tf

        class AverageBatchNormStatistics(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                variables = [v.value for layer in _compat.flatten_layers(self.model)
                             if isinstance(layer, keras.layers.BatchNormalization)
                             for v in (layer.moving_mean, layer.moving_variance)]
                if not variables:
                    return

                @tf.function
                def replica_mean():
                    return tf.distribute.get_replica_context().all_reduce(
                        "MEAN", [tf.identity(v) for v in variables])

                means = strategy.run(replica_mean)
                for variable, mean in zip(variables, means):
                    variable.assign(strategy.experimental_local_results(mean)[0])

        return AverageBatchNormStatistics()

