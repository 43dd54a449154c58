"""Benchmark cases, run in a child process: ``python -m benchmarks.workers '<json list of cases>'``.

Each case is a dict (see `benchmarks.run.case`); the child runs the cases in order and prints one
``RESULT {json}`` line per case. A child imports one framework only: TensorFlow-backed Keras and
PyTorch in one process must be imported torch first (tests/conftest.py), and a timing should not pay
for the other framework's thread pools anyway.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def time_calls(fn, *, warmup, seconds, min_repeats, max_repeats=200):
    """Call `fn` `warmup` times, then time calls until `min_repeats` and `seconds` are both reached."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min_repeats or time.perf_counter() - start < seconds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def _images(case, channels_first=False):
    rng = np.random.default_rng(0)
    size = case["size"]
    shape = (case["batch"], 3, size, size) if channels_first else (case["batch"], size, size, 3)
    return rng.standard_normal(shape, dtype=np.float32)


def _timing(case, fn):
    return time_calls(fn, warmup=case["warmup"], seconds=case["seconds"], min_repeats=case["repeats"])


# --------------------------------------------------------------------------------------------- NumPy

def run_matmul(case):
    """float32 matrix product: the practical arithmetic limit of the CPU (same threads as the models)."""
    n = case["size"]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    times = _timing(case, lambda: a @ b)
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i['internal_api']} {i.get('architecture', '')} threads={i['num_threads']}"
                for i in threadpool_info() if i["user_api"] == "blas"]
    except ImportError:
        blas = []
    return {"times": times, "gflop": 2 * n**3 / 1e9, "blas": blas}


# --------------------------------------------------------------------------------------------- Keras

def _keras_setup(case):
    import keras

    if case.get("backend", "tensorflow") == "tensorflow":
        import tensorflow as tf

        threads = case.get("threads")
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(case.get("inter_threads", 1))
    elif case["backend"] == "torch":
        import torch

        if case.get("threads"):
            torch.set_num_threads(case["threads"])
        torch.backends.cudnn.benchmark = bool(case.get("cudnn_benchmark"))
    if case.get("precision") == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    return keras


def _keras_model(case):
    """Our `case["model"]`, or with `case["application"]` (e.g. ``"MobileNetV3Large"``) that
    keras.applications model; random weights, `case["overrides"]` passed to the constructor."""
    size = case["size"]
    if case.get("application"):
        import keras

        build = getattr(keras.applications, case["application"])
        return build(weights=None, input_shape=(size, size, 3), **case.get("overrides", {}))
    import keras_senet as ks

    return ks.create_model(case["model"], weights=None, input_shape=(size, size, 3),
                           **case.get("overrides", {}))


def run_keras(case):
    """Keras inference on one batch: `path` is fast (compile_predict), fused (``fused_se=True``), function, xla or
    predict."""
    keras = _keras_setup(case)
    from keras_senet.inference import compile_predict

    model = _keras_model(case)
    x = _images(case)
    path = case["path"]
    if path == "fast":
        predict = compile_predict(model)
    elif path == "fused":
        predict = compile_predict(model, fused_se=True)
    elif path == "function":
        predict = compile_predict(model, freeze=False)
    elif path == "xla":
        predict = compile_predict(model, freeze=False, jit_compile=True)
    elif path == "predict":
        def predict(x):
            return model.predict(x, batch_size=len(x), verbose=0)
    else:
        raise ValueError(f"unknown keras path {path!r}")
    if case.get("backend", "tensorflow") != "tensorflow":
        x = keras.ops.convert_to_tensor(x)  # on the accelerator, like timm's input
    result = {"times": _timing(case, lambda: predict(x))}
    if case.get("flops"):
        from keras_senet import model_info

        if case.get("overrides"):
            from keras_senet.complexity import count_macs

            result["gflop_per_image"] = 2 * count_macs(model) / 1e9
        else:
            result["gflop_per_image"] = model_info(case["model"], input_size=case["size"])["gflops"]
    return result


def run_keras_train(case):
    """`model.fit` steps (SGD, sparse categorical cross-entropy) on one in-memory batch, repeated."""
    keras = _keras_setup(case)
    model = _keras_model(case)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    x = _images(case)
    y = np.random.default_rng(0).integers(0, 1000, size=(case["batch"],))
    step_times = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            step_times.append(time.perf_counter() - self._start)
            timed = step_times[case["warmup"]:]
            if len(timed) >= case["repeats"] and sum(timed) >= case["seconds"]:
                self.model.stop_training = True

    steps = case["warmup"] + 200
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        data = tf.data.Dataset.from_tensors((x, y)).repeat()
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[StepTimer()])
    else:  # one step per epoch; the timer counts the steps only
        model.fit(x, y, batch_size=case["batch"], epochs=steps, verbose=0, callbacks=[StepTimer()])
    return {"times": step_times[case["warmup"]:]}


def run_keras_profile(case):
    """Where the time goes in the frozen-graph fast path (TensorFlow): seconds per op type.

    Runs the same frozen, Grappler-optimised graph as `compile_predict` in a TF1 session with full
    tracing and sums each node's run time by op type.
    """
    _keras_setup(case)
    import tensorflow as tf

    from keras_senet import _compat

    model = _keras_model(case)
    spec = tf.TensorSpec(tuple(model.inputs[0].shape), model.inputs[0].dtype)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = _compat.freeze_concrete_function(concrete)
    if frozen is None:
        raise RuntimeError(f"The op profile needs a frozen graph; TensorFlow {tf.__version__} is not one "
                           "keras_senet._compat freezes on.")
    graph_def = frozen.graph.as_graph_def()
    input_name = frozen.inputs[0].name
    output_name = frozen.outputs[0].name
    x = _images(case)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=case.get("threads") or 0,
                                      inter_op_parallelism_threads=case.get("inter_threads", 1))
    by_type, total = {}, 0.0
    with tf.compat.v1.Session(graph=graph, config=config) as session:
        for _ in range(case["warmup"]):
            session.run(output_name, {input_name: x})
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        for _ in range(case["repeats"]):
            metadata = tf.compat.v1.RunMetadata()
            start = time.perf_counter()
            session.run(output_name, {input_name: x}, options=options, run_metadata=metadata)
            total += time.perf_counter() - start
            for device in metadata.step_stats.dev_stats:
                for node in device.node_stats:
                    label = node.timeline_label
                    op = label.split("= ", 1)[1].split("(", 1)[0] if "= " in label else node.node_name
                    by_type[op] = by_type.get(op, 0.0) + node.all_end_rel_micros / 1e6
    repeats = case["repeats"]
    ops = sorted(((op, t / repeats) for op, t in by_type.items()), key=lambda item: -item[1])
    return {"times": [total / repeats], "ops": ops}


# ---------------------------------------------------------------------------------------- timm / torch

def _timm_model(case, device):
    import timm
    import torch

    if device == "cpu":
        if case.get("threads"):
            torch.set_num_threads(case["threads"])
        # TensorFlow runs with denormals flushed to zero; give PyTorch the same setting.
        torch.set_flush_denormal(True)
    torch.backends.cudnn.benchmark = bool(case.get("cudnn_benchmark"))
    model = timm.create_model(case["model"], pretrained=False, num_classes=1000).to(device)
    return model.to(memory_format=torch.channels_last)


def _timm_input(case, device):
    import torch

    x = torch.from_numpy(_images(case, channels_first=True)).to(device)
    return x.contiguous(memory_format=torch.channels_last)


def _sync(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _autocast(case, device):
    import contextlib

    import torch

    if case.get("precision") == "bf16":
        return torch.autocast(device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_timm(case):
    """timm inference: eval mode, `torch.inference_mode`, channels-last, same thread count."""
    import torch

    device = case.get("device", "cpu")
    model = _timm_model(case, device).eval()
    x = _timm_input(case, device)

    def forward():
        with torch.inference_mode(), _autocast(case, device):
            out = model(x)
        _sync(device)
        return out

    return {"times": _timing(case, forward)}


def run_timm_train(case):
    """timm training step: forward, cross-entropy, backward, SGD step (train mode, channels-last)."""
    import torch

    device = case.get("device", "cpu")
    model = _timm_model(case, device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = _timm_input(case, device)
    y = torch.from_numpy(np.random.default_rng(0).integers(0, 1000, size=(case["batch"],))).to(device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with _autocast(case, device):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        _sync(device)

    return {"times": _timing(case, step)}


def run_timm_profile(case):
    """Where the time goes in timm's inference: seconds per aten op (torch.profiler, self time)."""
    import torch

    model = _timm_model(case, "cpu").eval()
    x = _timm_input(case, "cpu")
    with torch.inference_mode():
        for _ in range(case["warmup"]):
            model(x)
        start = time.perf_counter()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(case["repeats"]):
                model(x)
        total = time.perf_counter() - start
    repeats = case["repeats"]
    ops = sorted(((e.key, e.self_cpu_time_total / 1e6 / repeats) for e in prof.key_averages()),
                 key=lambda item: -item[1])
    return {"times": [total / repeats], "ops": [op for op in ops if op[1] > 0]}


# ------------------------------------------------------------------- exports and their runtimes

# export name -> (file in the case's folder, keyword arguments of keras_senet.export.export)
EXPORTS = {
    "saved_model": ("saved_model", {"format": "saved_model"}),
    "tflite_fp32": ("fp32.tflite", {"format": "tflite"}),
    "tflite_fp16": ("fp16.tflite", {"format": "tflite", "quantize": "float16"}),
    # calibrated on random inputs: the speed of int8 means something here, its accuracy does not
    "tflite_int8": ("int8.tflite", {"format": "tflite", "quantize": "int8", "io_type": "float32",
                                    "verify": False}),
    "onnx_ours": ("ours.onnx", {"format": "onnx"}),
}
TIMM_ONNX = "timm.onnx"


def run_keras_export(case):
    """Write `case["exports"]` (names of `EXPORTS`) of the case's Keras model into `case["dir"]`
    with `keras_senet.export.export` (verified, except int8); times the whole job once. An export
    that fails writes nothing and is reported in ``failed`` (``{name: last line of the error}``); the
    others are still written."""
    keras = _keras_setup(case)
    from keras_senet.export import export

    keras.utils.set_random_seed(0)
    model = _keras_model(case)
    calibration = _images(dict(case, batch=32))
    failed = {}
    start = time.perf_counter()
    for name in case["exports"]:
        file, options = EXPORTS[name]
        if options.get("quantize") == "int8":
            options = dict(options, representative_data=calibration)
        try:
            export(model, os.path.join(case["dir"], file), **options)
        except Exception as error:  # one format failing must not cost the others their rows
            lines = str(error).strip().splitlines()
            failed[name] = f"{type(error).__name__}: {lines[-1] if lines else ''}"
    return {"times": [time.perf_counter() - start], "failed": failed}


def run_timm_export(case):
    """timm's model through `torch.onnx.export` (TorchScript exporter, opset 17, dynamic batch)."""
    import timm
    import torch

    model = timm.create_model(case["model"], pretrained=False).eval()
    size = case["size"]
    start = time.perf_counter()
    torch.onnx.export(model, torch.randn(1, 3, size, size), os.path.join(case["dir"], TIMM_ONNX), dynamo=False,
                      opset_version=17, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}})
    return {"times": [time.perf_counter() - start]}


def run_runtime(case):
    """An export file `case["file"]` in `case["dir"]` in its own runtime (`load_exported`: LiteRT
    for .tflite, onnxruntime for .onnx, TensorFlow for a SavedModel), `case["threads"]` threads;
    `case["channels_first"]` for an NCHW input (timm's ONNX)."""
    _keras_setup(case)  # TensorFlow's threads, for a SavedModel
    from keras_senet.export import load_exported

    path = os.path.join(case["dir"], case["file"])
    predict = load_exported(path, num_threads=case.get("threads"))
    x = _images(case, channels_first=case.get("channels_first", False))
    return {"times": _timing(case, lambda: predict(x)),
            "file_bytes": os.path.getsize(path) if os.path.isfile(path) else None}


RUNNERS = {
    "matmul": run_matmul,
    "keras": run_keras,
    "keras_train": run_keras_train,
    "keras_profile": run_keras_profile,
    "timm": run_timm,
    "timm_train": run_timm_train,
    "timm_profile": run_timm_profile,
    "keras_export": run_keras_export,
    "timm_export": run_timm_export,
    "runtime": run_runtime,
}


def main(argv):
    cases = json.loads(argv[0])
    if cases and cases[0]["kind"].startswith("keras"):
        os.environ.setdefault("KERAS_BACKEND", cases[0].get("backend", "tensorflow"))
    for case in cases:
        result = RUNNERS[case["kind"]](case)
        result["case"] = case
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main(sys.argv[1:])
