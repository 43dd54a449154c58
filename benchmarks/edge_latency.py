"""Batch-1 LiteRT latency of one model per family (issue 14): fp32 / fp16 / int8 on XNNPACK, against timm -> ONNX
in onnxruntime and keras.applications' same architecture in LiteRT, with the SE overhead of the exported graph.

    nice -n 10 python -m benchmarks.edge_latency [--models seresnet50,...] [--size 224] [--threads 2]
        [--repeats 10] [--seconds 1] [--rounds 1] [--json edge.json]

Per model (`MODELS`): our TFLite fp32, fp16 and full-integer int8 (float interface, calibrated on random
inputs: its speed means something here, not its accuracy) in LiteRT; the same architecture built with
``attention=None`` (`keras_senet.create_model`) in LiteRT fp32, so ``fp32 / no-attention fp32`` is what SE
costs in the exported graph; timm's model through ``torch.onnx.export`` in onnxruntime; and
keras.applications' model of the same architecture (`APPLICATIONS`) exported by the same
`keras_senet.export.export` in LiteRT fp32; and the int8 file of the ``edgetpu`` profile (hard-swish as
ADD/RELU6 and MULs, which XNNPACK runs in int8, where it takes the HARD_SWISH op in fp32 only). The cases
are those of `benchmarks.export_latency` (exports written first, one model per process, then each case in
a fresh process after warm-up, every runtime on the same threads, random weights), so the ratios are side
by side in one run even on a busy machine. Not yet run to completion (see the README's Edge deployment).
"""

import argparse
import json
import os
import tempfile

from benchmarks import export_latency

# one registered model per family
MODELS = ("seresnet50", "ecaresnet50d", "legacy_seresnet18", "skresnet18", "resnest14d", "seresnext26ts",
          "mobilenetv3_large_100", "efficientnet_b0", "tf_mixnet_s", "lcnet_050", "regnety_002", "rexnet_100",
          "ghostnet_100")

# timm name -> the keras.applications constructor of the same architecture and its options
APPLICATIONS = {
    "seresnet50": ("ResNet50", {}),  # ResNet-50 v1 without SE (stride in the first 1x1, as Caffe's)
    "mobilenetv3_large_100": ("MobileNetV3Large", {"include_preprocessing": False}),
    "efficientnet_b0": ("EfficientNetB0", {}),  # its Rescaling + Normalization input layers stay
}

# (row, source, runtime of benchmarks.export_latency.RUNTIMES)
ROWS = (
    ("ours LiteRT fp32", "ours", "tflite_fp32"),
    ("ours LiteRT fp16", "ours", "tflite_fp16"),
    ("ours LiteRT int8", "ours", "tflite_int8"),
    ("ours LiteRT int8, edgetpu form", "edgetpu form", "tflite_int8"),
    ("ours attention=None LiteRT fp32", "no attention", "tflite_fp32"),
    ("timm ONNX (onnxruntime)", "timm", "onnx_timm"),
    ("keras.applications LiteRT fp32", "keras.applications", "tflite_fp32"),
)

# (name, numerator row, denominator row)
RATIOS = (
    ("SE overhead: ours fp32 / attention=None fp32", "ours LiteRT fp32", "ours attention=None LiteRT fp32"),
    ("int8 speed-up: fp32 / int8", "ours LiteRT fp32", "ours LiteRT int8"),
    ("int8 speed-up, edgetpu form: fp32 / int8", "ours LiteRT fp32", "ours LiteRT int8, edgetpu form"),
    ("fp16 / fp32", "ours LiteRT fp16", "ours LiteRT fp32"),
    ("ours LiteRT fp32 / timm ONNX", "ours LiteRT fp32", "timm ONNX (onnxruntime)"),
    ("ours LiteRT fp32 / keras.applications LiteRT fp32", "ours LiteRT fp32", "keras.applications LiteRT fp32"),
)


def label(model, row):
    return f"{model}: {row}"


def plan(models, folder, timing):
    """``(exports, cases)`` as `benchmarks.mobile_latency.plan` (exports per model), with the no-attention
    and edgetpu-form sources."""
    exports, cases = {}, []
    for model in models:
        exports[model] = []
        sources = {"ours": {}, "timm": {}, "no attention": {"overrides": {"attention": None}}, "edgetpu form": {}}
        if model in APPLICATIONS:
            application, overrides = APPLICATIONS[model]
            sources["keras.applications"] = {"application": application, "overrides": overrides}
        for source, keras_model in sources.items():
            runtimes = [runtime for _, s, runtime in ROWS if s == source]
            directory = os.path.join(folder, model, source.replace(" ", "_").replace(".", "_"))
            if source != "edgetpu form":  # (written by `write_edge_forms`)
                exports[model] += export_latency.export_cases(runtimes, model, directory, timing, **keras_model)
            cases += [(label(model, row), export_latency.runtime_case(runtime, model, directory, timing,
                                                                       **keras_model))
                      for row, s, runtime in ROWS if s == source]
    return exports, cases


def write_edge_forms(models, folder, size):
    """Per model, ``folder/MODEL/edgetpu_form/int8.tflite``: full-integer int8 of the ``edgetpu`` profile
    (pooled squeeze, hard-swish as ADD/RELU6 + two MULs, int8 input; calibrated on random inputs, not
    verified: only its speed is measured). Returns ``{model: error}`` of those that failed."""
    import numpy as np

    import keras
    import keras_senet as ks
    from keras_senet.export import export

    errors = {}
    calibration = np.random.default_rng(0).standard_normal((32, size, size, 3)).astype("float32")
    for model in models:
        directory = os.path.join(folder, model, "edgetpu_form")
        os.makedirs(directory, exist_ok=True)
        try:
            keras.utils.set_random_seed(0)
            built = ks.create_model(model, weights=None, input_shape=(size, size, 3))
            export(built, os.path.join(directory, "int8.tflite"), "tflite", target="edgetpu", quantize="int8",
                   representative_data=calibration, verify=False)
        except Exception as error:  # one model failing must not cost the others their rows
            errors[f"{model}: edgetpu form"] = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
        keras.backend.clear_session()
    return errors


def _cell(entry):
    if entry is None:
        return "n/a"
    if "median" not in entry:
        return "failed"
    return f"{export_latency.ms(entry, 'median'):.2f} ({export_latency.ms(entry, 'min'):.2f})"


def tables(pooled, models):
    """The latency table (median (min) ms per row and model) and the ratio table (by median)."""
    lines = [f"| median (min) ms | {' | '.join(models)} |", "|---" * (len(models) + 1) + "|"]
    for row, _, _ in ROWS:
        lines.append(f"| {row} | {' | '.join(_cell(pooled.get(label(m, row))) for m in models)} |")
    lines += ["", f"| ratio of medians | {' | '.join(models)} |", "|---" * (len(models) + 1) + "|"]
    for name, numerator, denominator in RATIOS:
        cells = []
        for model in models:
            a = export_latency.ms(pooled.get(label(model, numerator)), "median")
            b = export_latency.ms(pooled.get(label(model, denominator)), "median")
            cells.append(f"{a / b:.2f}" if a and b else "n/a")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.edge_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated timm / keras-senet names")
    export_latency.add_arguments(parser, repeats=10, seconds=1.0)
    args = parser.parse_args(argv)
    models = args.models.split(",")
    timing = export_latency.timing(args)
    load_start = export_latency.load_average()
    with tempfile.TemporaryDirectory() as folder:
        exports, cases = plan(models, folder, timing)
        print(f"# edge latency: {', '.join(models)}; {len(cases)} cases x {args.rounds} round(s)", flush=True)
        errors = {}
        for model in models:  # one model's exports per process: a busy machine stays within run's time limit
            errors.update(export_latency.write_exports(exports[model]))
        errors.update(write_edge_forms(models, folder, args.size))
        pooled = export_latency.measure(cases, args.quick, args.rounds)
    print(f"\nBatch 1, {args.size}x{args.size}, float32 input, {args.threads} threads in every runtime, random "
          f"weights; {args.warmup} warm-up calls, then >= {args.repeats} calls and >= {args.seconds:g} s per case, "
          f"{'grouped per framework (--quick)' if args.quick else 'each case in a fresh process'}, "
          f"{args.rounds} round(s). Load average (1/5/15 min) {load_start} at the start, {export_latency.load_average()} at the end.")
    print(export_latency.versions() + "\n")
    print(tables(pooled, models))
    if errors:
        print("\nExports that failed (their rows say failed):\n" + export_latency.failures(errors))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": pooled, "export_errors": errors, "load": {"start": load_start, "end": export_latency.load_average()}}, f,
                      indent=1)
    return 1 if any("error" in entry for entry in pooled.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
