"""Batch-1 latency of one model (seresnet50, 224x224) in every export runtime, side by side, on this machine.

    python -m benchmarks.export_latency [--threads 2] [--repeats 30] [--size 224] [--model seresnet50]

Rows (`RUNTIMES`): Keras `predict`, an XLA-compiled Keras call, `compile_predict`, the SavedModel in
TensorFlow, our TFLite fp32 / fp16 / int8 in the LiteRT interpreter (XNNPACK), our ONNX in onnxruntime,
and timm's own model exported with `torch.onnx.export` in onnxruntime (the reference row: ratios are
median / its median). The exports are written first (`keras_senet.export.export`, one process per
framework), then each case is timed in a fresh process (`benchmarks.run.measure`, `benchmarks.workers`)
after warm-up. Random weights: latency does not depend on them; int8 is calibrated on random inputs, so
only its speed, not its accuracy, means anything here. `benchmarks.mobile_latency` builds on these cases.
"""

import argparse
import json
import os
import tempfile
from importlib import metadata

from benchmarks import run
from benchmarks.workers import EXPORTS, TIMM_ONNX

RUNTIMES = {
    "keras_predict": "Keras `model.predict`",
    "keras_jit": "Keras call compiled by XLA (`compile_predict(freeze=False, jit_compile=True)`)",
    "keras_fast": "`keras_senet.compile_predict` (frozen graph, TensorFlow + oneDNN)",
    "saved_model": "SavedModel written by `keras_senet.export`, in TensorFlow",
    "tflite_fp32": "TFLite fp32 written by `keras_senet.export`, in LiteRT (XNNPACK)",
    "tflite_fp16": "TFLite with float16 weights, in LiteRT",
    "tflite_int8": "TFLite full-integer int8 (float32 input/output), in LiteRT",
    "onnx_ours": "ONNX written by `keras_senet.export`, in onnxruntime",
    "timm_eager": "timm in PyTorch eager (eval, inference_mode, channels-last)",
    "onnx_timm": "timm's `torch.onnx.export` (opset 17), in onnxruntime",
}
CASES = ["keras_predict", "keras_jit", "keras_fast", "saved_model", "tflite_fp32", "tflite_fp16", "tflite_int8",
         "onnx_ours", "onnx_timm"]
REFERENCE = "onnx_timm"
KERAS_PATHS = {"keras_predict": "predict", "keras_jit": "xla", "keras_fast": "fast"}  # workers.run_keras paths
PACKAGES = ("tensorflow", "keras", "ai-edge-litert", "onnxruntime", "tf2onnx", "torch", "timm")


def add_arguments(parser, repeats=30, seconds=0.0):
    """The options every latency script takes: size, threads, timing, rounds, --quick, --json."""
    parser.add_argument("--size", type=int, default=224, help="square input side")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every runtime")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed calls per case, at least")
    parser.add_argument("--seconds", type=float, default=seconds, help="timed seconds per case, at least")
    parser.add_argument("--rounds", type=int, default=1, help="time every case this many times, interleaved")
    parser.add_argument("--quick", action="store_true",
                        help="one process per framework, not per case: a smoke run whose times mean little")
    parser.add_argument("--json", help="also write the timings to this file")


def timing(args):
    """The timing fields of a `benchmarks.workers` case, from `add_arguments`' options (batch 1)."""
    return dict(size=args.size, batch=1, threads=args.threads, warmup=args.warmup, repeats=args.repeats,
                seconds=args.seconds)


def runtime_case(runtime, model, folder, timing, **keras_model):
    """The `benchmarks.workers` case timing `runtime` (a key of `RUNTIMES`) of `model` (timm's name),
    reading exports from `folder`; `keras_model`: ``application`` / ``overrides`` of the Keras model."""
    if runtime in KERAS_PATHS:
        return dict(timing, kind="keras", model=model, path=KERAS_PATHS[runtime], **keras_model)
    if runtime == "timm_eager":
        return dict(timing, kind="timm", model=model)
    if runtime == "onnx_timm":
        return dict(timing, kind="runtime", model=model, dir=folder, file=TIMM_ONNX, channels_first=True)
    return dict(timing, kind="runtime", model=model, dir=folder, file=EXPORTS[runtime][0])


def export_cases(runtimes, model, folder, timing, **keras_model):
    """``(label, case)`` pairs writing into `folder` the files that `runtimes` read."""
    exports = [r for r in runtimes if r in EXPORTS]
    source = keras_model.get("application") or model
    cases = []
    if exports:
        cases.append((f"export {source}: {', '.join(exports)}",
                      dict(timing, kind="keras_export", model=model, dir=folder, exports=exports, **keras_model)))
    if "onnx_timm" in runtimes:
        cases.append((f"export timm {model}: onnx", dict(timing, kind="timm_export", model=model, dir=folder)))
    return cases


def write_exports(cases, log=print):
    """Run `export_cases` (one process per framework). Returns ``{what: error}`` of the exports that
    failed (their files are missing: `measure` reports the cases reading them as failed)."""
    for folder in {case["dir"] for _, case in cases}:
        os.makedirs(folder, exist_ok=True)
    errors = {}
    for label, entry in run.measure(cases, quick=True, rounds=1, log=log).items():
        if "error" in entry:
            errors[label] = entry["error"].strip().splitlines()[-1]
        errors.update({f"{label.split(':')[0]}: {name}": error for name, error in entry.get("failed", {}).items()})
    return errors


def measure(cases, quick, rounds, log=print):
    """`run.measure` of the ``(label, case)`` pairs whose export file exists; the others, in order, get an
    error entry without a process."""
    def missing(case):
        return case["kind"] == "runtime" and not os.path.exists(os.path.join(case["dir"], case["file"]))

    pooled = run.measure([(label, case) for label, case in cases if not missing(case)], quick, rounds, log)
    return {label: pooled.get(label) or {"case": case, "error": f"{case['file']} was not written (export failed)"}
            for label, case in cases}


def failures(errors):
    """`write_exports`' errors, one line each."""
    return "\n".join(f"- {what}: {error}" for what, error in errors.items())


def versions():
    """``"tensorflow 2.21.0, keras 3.15.1, ..."``: the installed runtimes, for the table's caption."""
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def ms(entry, stat):
    """`entry`'s min or median in milliseconds (None for a failed or missing case)."""
    return entry[stat] * 1000 if entry and stat in entry else None


def _table(pooled, reference):
    ref = ms(pooled.get(reference), "median")
    lines = ["| case | min ms | median ms | ratio | file MiB |", "|---|---|---|---|---|"]
    for label, entry in pooled.items():
        if "median" not in entry:
            lines.append(f"| {label} | failed | | | |")
            continue
        size = f"{entry['file_bytes'] / 2**20:.1f}" if entry.get("file_bytes") else ""
        ratio = f"{ms(entry, 'median') / ref:.2f}" if ref else ""
        lines.append(f"| {label} | {ms(entry, 'min'):.1f} | {ms(entry, 'median'):.1f} | {ratio} | {size} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="seresnet50")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(RUNTIMES)}")
    add_arguments(parser)
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in RUNTIMES]
    if unknown:
        parser.error(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(RUNTIMES)}")

    with tempfile.TemporaryDirectory() as folder:
        print(f"preparing exports of {args.model} at {args.size}x{args.size} ...", flush=True)
        errors = write_exports(export_cases(cases, args.model, folder, timing(args)))
        pooled = measure([(c, runtime_case(c, args.model, folder, timing(args))) for c in cases], args.quick,
                         args.rounds)
    reference = REFERENCE if REFERENCE in pooled else cases[0]
    print(f"\n{args.model}, batch 1, {args.size}x{args.size}, {args.threads} threads, >= {args.repeats} calls "
          f"(ratio = median / {reference} median); {versions()}")
    print(_table(pooled, reference))
    median = {c: ms(pooled[c], "median") for c in cases}
    if median.get("onnx_ours") and median.get("onnx_timm"):
        print(f"our ONNX / timm ONNX: {median['onnx_ours'] / median['onnx_timm']:.3f} (target <= 1.05)")
    if median.get("tflite_fp32") and median.get("tflite_int8"):
        print(f"TFLite int8 speed-up over fp32: {median['tflite_fp32'] / median['tflite_int8']:.2f}x (target >= 1.8)")
    if errors:
        print("export failures:\n" + failures(errors))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": pooled, "export_errors": errors}, f, indent=1)
    return 1 if any("error" in entry for entry in pooled.values()) else 0


def load_average():
    """The machine's load average (1/5/15 min) as "a/b/c", printed beside timings taken on it."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
