"""Batch-1 latency of seresnet50 (224x224) in every export runtime, side by side, on this machine.

    python benchmarks/export_latency.py [--threads 2] [--repeats 30] [--size 224] [--model seresnet50]

Rows: Keras `predict`, a jit-compiled Keras call, the SavedModel in TensorFlow, our TFLite fp32 / fp16 /
int8 in the LiteRT interpreter (XNNPACK), our ONNX in onnxruntime, and timm's own model exported with
`torch.onnx.export` in onnxruntime (the reference row: ratios are median / its median). Each case is
timed in a fresh process after warm-up; random weights (latency does not depend on them; int8 is
calibrated on random inputs, so only its speed, not its accuracy, means anything here).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CASES = ["keras_predict", "keras_jit", "saved_model", "tflite_fp32", "tflite_fp16", "tflite_int8",
         "onnx_ours", "onnx_timm"]
REFERENCE = "onnx_timm"


def _prepare_keras(folder, model, size):
    import numpy as np

    import keras
    import keras_senet as ks
    from keras_senet.export import export

    keras.utils.set_random_seed(0)
    net = ks.create_model(model, input_shape=(size, size, 3))
    net.save(os.path.join(folder, "model.keras"))
    export(net, os.path.join(folder, "saved_model"), "saved_model")
    export(net, os.path.join(folder, "fp32.tflite"), "tflite")
    export(net, os.path.join(folder, "fp16.tflite"), "tflite", quantize="float16")
    calibration = np.random.default_rng(0).standard_normal((32, size, size, 3)).astype("float32")
    export(net, os.path.join(folder, "int8.tflite"), "tflite", quantize="int8", io_type="float32",
           representative_data=calibration, verify=False)
    export(net, os.path.join(folder, "ours.onnx"), "onnx")


def _prepare_timm(folder, model, size):
    import timm
    import torch

    net = timm.create_model(model).eval()
    torch.onnx.export(net, torch.randn(1, 3, size, size), os.path.join(folder, "timm.onnx"), dynamo=False,
                      opset_version=17, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}})


def _predictor(case, folder, threads, size):
    import numpy as np

    if case.startswith(("keras", "saved_model")):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if case == "onnx_timm":
        from keras_senet.export import load_exported

        predict = load_exported(os.path.join(folder, "timm.onnx"), num_threads=threads)
        return predict, np.random.default_rng(0).standard_normal((1, 3, size, size)).astype("float32")
    image = np.random.default_rng(0).standard_normal((1, size, size, 3)).astype("float32")
    if case.startswith("keras"):
        import keras
        import tensorflow as tf

        import keras_senet  # noqa: F401  (registers the layers for loading)

        model = keras.saving.load_model(os.path.join(folder, "model.keras"))
        if case == "keras_predict":
            return (lambda x: model.predict(x, verbose=0)), image
        compiled = tf.function(lambda x: model(x, training=False), jit_compile=True)
        return (lambda x: compiled(x).numpy()), image
    from keras_senet.export import load_exported

    files = {"saved_model": "saved_model", "tflite_fp32": "fp32.tflite", "tflite_fp16": "fp16.tflite",
             "tflite_int8": "int8.tflite", "onnx_ours": "ours.onnx"}
    path = os.path.join(folder, files[case])
    return (load_exported(path) if case == "saved_model" else load_exported(path, num_threads=threads)), image


def _time(case, folder, threads, repeats, size):
    predict, image = _predictor(case, folder, threads, size)
    for _ in range(5):
        predict(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(image)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"case": case, "min_ms": times[0], "median_ms": times[len(times) // 2]}


def _subprocess(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, os.path.abspath(__file__), *map(str, args)], capture_output=True,
                            text=True, env=env)
    if result.returncode:
        raise SystemExit(f"{args}: failed\n{result.stderr[-3000:]}")
    return result.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="seresnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--_prepare", choices=["keras", "timm"], help=argparse.SUPPRESS)
    parser.add_argument("--_case", help=argparse.SUPPRESS)
    parser.add_argument("--_dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._prepare:
        (_prepare_keras if args._prepare == "keras" else _prepare_timm)(args._dir, args.model, args.size)
        return 0
    if args._case:
        print(json.dumps(_time(args._case, args._dir, args.threads, args.repeats, args.size)))
        return 0

    cases = args.cases.split(",")
    with tempfile.TemporaryDirectory() as folder:
        print(f"preparing exports of {args.model} at {args.size}x{args.size} ...", flush=True)
        _subprocess("--_prepare", "keras", "--_dir", folder, "--model", args.model, "--size", args.size)
        if REFERENCE in cases:
            _subprocess("--_prepare", "timm", "--_dir", folder, "--model", args.model, "--size", args.size)
        sizes = {c: os.path.getsize(os.path.join(folder, f)) for c, f in
                 [("tflite_fp32", "fp32.tflite"), ("tflite_fp16", "fp16.tflite"), ("tflite_int8", "int8.tflite"),
                  ("onnx_ours", "ours.onnx"), ("onnx_timm", "timm.onnx")] if os.path.exists(os.path.join(folder, f))}
        rows = []
        for case in cases:
            rows.append(json.loads(_subprocess("--_case", case, "--_dir", folder, "--threads", args.threads,
                                               "--repeats", args.repeats, "--size", args.size,
                                               "--model", args.model).strip().splitlines()[-1]))
            print(f"  {case}: {rows[-1]['median_ms']:.1f} ms", flush=True)
    by_case = {r["case"]: r for r in rows}
    reference = by_case.get(REFERENCE, rows[0])["median_ms"]
    print(f"\n{args.model}, batch 1, {args.size}x{args.size}, {args.threads} threads, {args.repeats} repeats "
          f"(ratio = median / {REFERENCE if REFERENCE in by_case else rows[0]['case']} median)")
    print(f"| case | min ms | median ms | ratio | file MiB |\n|---|---|---|---|---|")
    for r in rows:
        size = f"{sizes[r['case']] / 2**20:.1f}" if r["case"] in sizes else ""
        print(f"| {r['case']} | {r['min_ms']:.1f} | {r['median_ms']:.1f} | {r['median_ms'] / reference:.2f} | {size} |")
    if {"onnx_ours", "onnx_timm"} <= set(by_case):
        print(f"our ONNX / timm ONNX: {by_case['onnx_ours']['median_ms'] / by_case['onnx_timm']['median_ms']:.3f} "
              "(target <= 1.05)")
    if {"tflite_fp32", "tflite_int8"} <= set(by_case):
        print(f"TFLite int8 speed-up over fp32: "
              f"{by_case['tflite_fp32']['median_ms'] / by_case['tflite_int8']['median_ms']:.2f}x (target >= 1.8)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
