"""Batch-1 latency of the mobile networks (issue 11): ours against timm and keras.applications, side by side.

    python -m benchmarks.mobile_latency [--models mobilenetv3_large_100,efficientnet_b0,lcnet_100]
        [--threads 2] [--repeats 30] [--seconds 2] [--size 224] [--rounds 1] [--json mobile.json]

Per architecture (`ROWS`): ours in Keras (`compile_predict`), in LiteRT fp32 / int8 and in onnxruntime;
timm eager and timm's `torch.onnx.export` in onnxruntime; and the keras.applications model of the same
architecture (`APPLICATIONS`) in Keras, LiteRT fp32 and onnxruntime, exported by the same
`keras_senet.export.export` ("n/a" where keras.applications has none). The cases are those of
`benchmarks.export_latency`: exports written first, then each case timed in a fresh process after
warm-up, every runtime on the same threads; random weights. The targets (`TARGETS`) are ratios of
medians (ratios of minima beside them); a target is met by the median. An export that fails leaves
its rows "failed" and is listed under the tables (keras.applications' EfficientNetB0 to ONNX, today).
"""

import argparse
import json
import os
import tempfile

from benchmarks import export_latency

MODELS = ("mobilenetv3_large_100", "efficientnet_b0", "lcnet_100")

# timm name -> the keras.applications constructor of the same architecture and its options
APPLICATIONS = {
    # without its Rescaling layer ([0, 255] -> [-1, 1]), like ours; parameter counts equal (5,507,432)
    "mobilenetv3_large_100": ("MobileNetV3Large", {"include_preprocessing": False}),
    # its Rescaling + Normalization input layers cannot be switched off (two elementwise passes)
    "efficientnet_b0": ("EfficientNetB0", {}),
}

# (row, source, runtime of benchmarks.export_latency.RUNTIMES)
ROWS = (
    ("ours Keras compile_predict", "ours", "keras_fast"),
    ("ours LiteRT fp32", "ours", "tflite_fp32"),
    ("ours LiteRT int8", "ours", "tflite_int8"),
    ("ours ONNX", "ours", "onnx_ours"),
    ("timm eager", "timm", "timm_eager"),
    ("timm ONNX", "timm", "onnx_timm"),
    ("keras.applications Keras compile_predict", "keras.applications", "keras_fast"),
    ("keras.applications LiteRT fp32", "keras.applications", "tflite_fp32"),
    ("keras.applications ONNX", "keras.applications", "onnx_ours"),
)

# (name, numerator row, denominator row, goal) with goal ("<=" | ">=", bound), or None for information
TARGETS = (
    ("ours ONNX / timm ONNX", "ours ONNX", "timm ONNX", ("<=", 1.05)),
    ("ours LiteRT fp32 / keras.applications LiteRT fp32", "ours LiteRT fp32", "keras.applications LiteRT fp32",
     ("<=", 1.05)),
    ("int8 speed-up: ours LiteRT fp32 / ours LiteRT int8", "ours LiteRT fp32", "ours LiteRT int8", (">=", 2.0)),
    ("ours Keras / timm eager", "ours Keras compile_predict", "timm eager", ("<=", 1.0)),
    ("(info) ours Keras / keras.applications Keras", "ours Keras compile_predict",
     "keras.applications Keras compile_predict", None),
    ("(info) ours ONNX / keras.applications ONNX", "ours ONNX", "keras.applications ONNX", None),
)


def label(model, row):
    return f"{model}: {row}"


def plan(models, folder, timing):
    """``(exports, cases)``: per model the ``(label, case)`` pairs writing its exports, and the timed
    ``(label, case)`` pairs of every row that model has (keras.applications rows only with a counterpart)."""
    exports, cases = {}, []
    for model in models:
        sources = {"ours": {}, "timm": {}}
        if model in APPLICATIONS:
            application, overrides = APPLICATIONS[model]
            sources["keras.applications"] = {"application": application, "overrides": overrides}
        exports[model] = []
        for source, keras_model in sources.items():
            runtimes = [runtime for _, s, runtime in ROWS if s == source]
            directory = os.path.join(folder, model, source)
            exports[model] += export_latency.export_cases(runtimes, model, directory, timing, **keras_model)
            cases += [(label(model, row), export_latency.runtime_case(runtime, model, directory, timing,
                                                                       **keras_model))
                      for row, s, runtime in ROWS if s == source]
    return exports, cases


def targets(pooled, models):
    """The ratios of `TARGETS` per model: dicts (target, model, median, min, goal, met); None where a row is
    missing (no keras.applications counterpart) or failed."""
    out = []
    for name, numerator, denominator, goal in TARGETS:
        for model in models:
            a, b = pooled.get(label(model, numerator)), pooled.get(label(model, denominator))
            ratio = {stat: (export_latency.ms(a, stat) / export_latency.ms(b, stat)
                            if export_latency.ms(a, stat) and export_latency.ms(b, stat) else None)
                     for stat in ("median", "min")}
            met = None
            if goal is not None and ratio["median"] is not None:
                met = ratio["median"] <= goal[1] if goal[0] == "<=" else ratio["median"] >= goal[1]
            out.append(dict(target=name, model=model, goal=" ".join(map(str, goal)) if goal else "", met=met,
                            **ratio))
    return out


def latency_table(pooled, models):
    """Median (min) ms per row and model."""
    lines = [f"| median (min) ms | {' | '.join(models)} |", "|---" * (len(models) + 1) + "|"]
    for row, _, _ in ROWS:
        cells = []
        for model in models:
            entry = pooled.get(label(model, row))
            if entry is None:
                cells.append("n/a")
            elif "median" not in entry:
                cells.append("failed")
            else:
                cells.append(f"{export_latency.ms(entry, 'median'):.2f} ({export_latency.ms(entry, 'min'):.2f})")
        lines.append(f"| {row} | {' | '.join(cells)} |")
    return "\n".join(lines)


def targets_table(rows, models):
    """Ratio by median (by min), the goal and whether it is met, per target and model."""
    lines = [f"| ratio: median (min) | goal | {' | '.join(models)} |", "|---" * (len(models) + 2) + "|"]
    for name, _, _, _ in TARGETS:
        cells, goal = [], ""
        for r in (r for r in rows if r["target"] == name):
            goal = r["goal"]
            if r["median"] is None:
                cells.append("n/a")
                continue
            met = "" if r["met"] is None else (" yes" if r["met"] else " **no**")
            cells.append(f"{r['median']:.2f} ({r['min']:.2f}){met}")
        lines.append(f"| {name} | {goal} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mobile_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated timm / keras-senet names")
    export_latency.add_arguments(parser, repeats=30, seconds=2.0)
    args = parser.parse_args(argv)
    models = args.models.split(",")
    timing = export_latency.timing(args)
    load_start = export_latency.load_average()
    with tempfile.TemporaryDirectory() as folder:
        exports, cases = plan(models, folder, timing)
        print(f"# mobile latency: {', '.join(models)}; {len(cases)} cases x {args.rounds} round(s)", flush=True)
        errors = {}
        for model in models:
            errors.update(export_latency.write_exports(exports[model]))
        pooled = export_latency.measure(cases, args.quick, args.rounds)
    rows = targets(pooled, models)
    print(f"\nBatch 1, {args.size}x{args.size}, float32 input, {args.threads} threads in every runtime, random "
          f"weights; {args.warmup} warm-up calls, then >= {args.repeats} calls and >= {args.seconds:g} s per case, "
          f"{'grouped per framework (--quick)' if args.quick else 'each case in a fresh process'}, "
          f"{args.rounds} round(s). Load average (1/5/15 min) {load_start} at the start, {export_latency.load_average()} at the end.")
    print(export_latency.versions() + "\n")
    print(latency_table(pooled, models) + "\n")
    print(targets_table(rows, models))
    if errors:
        print("\nExports that failed (their rows say failed):\n" + export_latency.failures(errors))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": pooled, "targets": rows, "export_errors": errors,
                       "load": {"start": load_start, "end": export_latency.load_average()}}, f, indent=1)
    return 1 if any("error" in entry for entry in pooled.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
