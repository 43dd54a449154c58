"""GhostNetV3 in its training form against its re-parameterised form (`keras_senet.reparameterize`), side by
side, with timm's `reparameterize_model` as the reference.

    python -m benchmarks.reparameterize [--model ghostnetv3_100] [--size 224] [--threads 2] [--repeats 20]
        [--rounds 3] [--json F]

Rows: the Keras fast path over the folded training form (BatchNorm folded only: what `compile_predict` ran
before re-parameterisation) and over the merged form (its default now), batch 1 and batch 16; the TFLite
fp32 export of each form (export wall time, file size, operators, LiteRT batch-1 latency, verified against
the Keras model by `export`); timm eager (eval, inference_mode, channels-last) before and after its own
``reparameterize_model``. One process; each pair is timed interleaved, ``--rounds`` times, and the
minimum and median over all calls are printed with the ratio training form / merged form. Random weights
(latency does not depend on them; BatchNorm statistics are calibrated so the export's verification is
meaningful).
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch  # before TensorFlow (see tests/conftest.py)
import timm  # noqa: F401
from timm.models._manipulate import reparameterize_model


def _timed(function, images, repeats):
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function(images)
        times.append(time.perf_counter() - began)
    return times


def _interleaved(cases, images, repeats, rounds, warmup=3):
    """``{label: [seconds per call, ...]}``: every case warmed up, then timed in turn, `rounds` times."""
    for function in cases.values():
        for _ in range(warmup):
            function(images)
    times = {label: [] for label in cases}
    for _ in range(rounds):
        for label, function in cases.items():
            times[label] += _timed(function, images, repeats)
    return times


def _summary(times):
    return {"min_ms": 1e3 * min(times), "median_ms": 1e3 * float(np.median(times))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ghostnetv3_100")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the `keras-senet` command (keras_senet/_cpu_kernels.py)
    torch.set_num_threads(args.threads)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    import keras_senet as ks
    from keras_senet import folding
    from keras_senet.export import export

    model = ks.create_model(args.model, weights=None, input_shape=(args.size, args.size, 3))
    rng = np.random.default_rng(0)
    calibration = rng.normal(size=(8, args.size, args.size, 3)).astype("float32")
    # every BatchNorm's moving statistics := those of its input on random images, as a trained model has
    # (one training-mode pass with momentum 0, as tests/randomise.py calibrate_batchnorm)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.momentum = 0.0
    model(calibration, training=True)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    results = {"model": args.model, "size": args.size, "threads": args.threads}

    began = time.perf_counter()
    merged_model, merged = ks.reparameterize(model)
    results["reparameterize_s"] = time.perf_counter() - began
    folded_model = folding.fold_batchnorm(model)[0]
    results["layers"] = {"training form": len(model.layers), "folded": len(folded_model.layers),
                         "merged": len(merged_model.layers), "sums merged": len(merged)}
    print(f"{args.model}: {len(model.layers)} layers; BatchNorm folded {len(folded_model.layers)}; "
          f"re-parameterised {len(merged_model.layers)} ({len(merged)} sums merged) in "
          f"{results['reparameterize_s']:.1f} s")

    # the fast path, over each form (freeze=False: the copy's variables as they are, nothing folded again)
    keras_rows = {}
    for batch in (1, 16):
        images = rng.normal(size=(batch, args.size, args.size, 3)).astype("float32")
        cases = {"folded training form": ks.compile_predict(folded_model, freeze=False),
                 "re-parameterised": ks.compile_predict(merged_model, freeze=False)}
        times = _interleaved(cases, images, args.repeats, args.rounds)
        keras_rows[batch] = {label: _summary(t) for label, t in times.items()}
    results["keras"] = keras_rows

    # TFLite fp32 exports of each form, verified against the Keras model by `export` itself
    exports = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, reparameterize in (("training form", False), ("re-parameterised", True)):
            began = time.perf_counter()
            report = export(model, os.path.join(folder, f"{reparameterize}.tflite"), "tflite",
                            representative_data=calibration, reparameterize=reparameterize,
                            num_threads=args.threads)
            exports[label] = {"export_s": time.perf_counter() - began, "size_mb": report.size_bytes / 1e6,
                              "operators": sum(report.ops.values()), "latency_ms": report.latency_ms,
                              "rel_diff": report.rel_diff, "passed": report.passed}
    results["tflite"] = exports

    # timm: the same architecture before and after its own reparameterize_model
    reference = timm.create_model(args.model, pretrained=False).eval()
    deployed = reparameterize_model(reference, inplace=False)
    timm_rows = {}
    for batch in (1, 16):
        images = torch.from_numpy(rng.normal(size=(batch, 3, args.size, args.size)).astype("float32"))
        images = images.contiguous(memory_format=torch.channels_last)
        forms = {"training form": reference.to(memory_format=torch.channels_last),
                 "re-parameterised": deployed.to(memory_format=torch.channels_last)}

        def run(module):
            def call(x):
                with torch.inference_mode():
                    return module(x)
            return call

        times = _interleaved({label: run(m) for label, m in forms.items()}, images, args.repeats, args.rounds)
        timm_rows[batch] = {label: _summary(t) for label, t in times.items()}
    results["timm"] = timm_rows

    print(f"\n| {args.model}, {args.size}x{args.size}, {args.threads} threads | training form | re-parameterised "
          f"| ratio (training / merged) |")
    print("|---|---|---|---|")
    for name, rows, before in (("Keras fast path", keras_rows, "folded training form"),
                               ("timm eager", timm_rows, "training form")):
        for batch, row in rows.items():
            a, b = row[before], row["re-parameterised"]
            print(f"| {name}, batch {batch}, ms: min (median) | {a['min_ms']:.2f} ({a['median_ms']:.2f}) | "
                  f"{b['min_ms']:.2f} ({b['median_ms']:.2f}) | {a['min_ms'] / b['min_ms']:.2f} "
                  f"({a['median_ms'] / b['median_ms']:.2f}) |")
    a, b = exports["training form"], exports["re-parameterised"]
    for key, label in (("latency_ms", "LiteRT fp32, batch 1, ms (median)"), ("export_s", "TFLite export, s"),
                       ("operators", "TFLite operators"), ("size_mb", "TFLite file, MB")):
        print(f"| {label} | {a[key]:.4g} | {b[key]:.4g} | {a[key] / b[key]:.2f} |")
    print(f"| verified against Keras (relative difference) | {a['rel_diff']:.2g} | {b['rel_diff']:.2g} | |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
