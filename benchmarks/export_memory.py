"""Time and peak memory of exporting every registered model to every format (issue 17).

    python -m benchmarks.export_memory [--models 'seresnet*' ...] [--formats saved_model tflite int8 onnx]
        [--size 224] [--json export_memory.jsonl] [--exclude 'regnety_2560' ...]

One fresh process per model and format: the model is built with random weights at ``size x size``
(logits; BatchNorm statistics calibrated on 8 random images, as in tests/randomise.py), called once (the
Keras model as a user holds it), and then `keras_senet.export.export` runs as a user runs it: convert,
inspect, verify in the format's runtime, move into place. Reported per cell: the weight bytes, the
process's anonymous resident memory with the model built (``model``), the highest anonymous resident
memory during the export (RssAnon polled every 5 ms; shared-library pages left out, see
benchmarks/fastpath_memory.py), ``extra`` = (peak - model) / weight bytes, the export's wall time and the
verification's max relative difference (an export that converts and runs but misses the verification
tolerance is reported with its figures and the reason, ``FAILED verification``). ``int8`` is
full-integer TFLite calibrated on the 8 images; with random weights its accuracy means nothing, so
it is verified with top-1 agreement not required (the file is still run in LiteRT and compared).
Models go smallest first (mobile networks, then ResNets by depth); ``--json`` appends one line per cell
and skips the cells already in the file, so an interrupted sweep resumes. Linux only (/proc).
"""

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time

MIB = 2**20
FORMATS = ("saved_model", "tflite", "int8", "onnx")
SUFFIX = {"saved_model": "", "tflite": ".tflite", "int8": ".tflite", "onnx": ".onnx"}
# int8 with random weights: the export must load and run in LiteRT, its accuracy is not the point here
INT8_TOLERANCES = {"top1_agreement": 0.0, "feature_rel_rms": float("inf")}


def _one(name, format, size, folder):
    """One cell, in this (fresh) process: returns the figures as a dict."""
    import gc

    import numpy as np

    import keras_senet as ks
    from benchmarks.fastpath_memory import _AnonPeak, _memory
    from keras_senet.export import ExportError, export
    from randomise import calibrate_batchnorm  # tests/randomise.py (the parent puts tests/ on the path)

    images = np.random.default_rng(0).standard_normal((8, size, size, 3)).astype("float32")
    model = ks.create_model(name, weights=None, input_shape=(size, size, 3), classifier_activation=None)
    calibrate_batchnorm(model, images)
    model(images[:1], training=False)
    gc.collect()
    weights = sum(int(np.prod(w.shape)) * 4 for w in model.weights) / MIB
    before = _memory()["RssAnon"]
    options = {}
    if format == "int8":
        options = dict(quantize="int8", representative_data=images, tolerances=INT8_TOLERANCES)
    path = os.path.join(folder, name + SUFFIX[format])
    peak = _AnonPeak()
    start = time.perf_counter()
    failure = None
    try:
        report = export(model, path, "tflite" if format == "int8" else format, overwrite=True, **options)
    except ExportError as error:  # converted and run, but outside the tolerance: the figures still count
        if error.report is None or error.report.rel_diff is None:
            raise
        report, failure = error.report, "; ".join(error.report.failures)
    seconds = time.perf_counter() - start
    highest = peak.stop()
    entry = {"model": name, "format": format, "size": size, "weights_mib": round(weights, 1),
             "model_mib": round(before), "peak_mib": round(highest), "extra": round((highest - before) / weights, 1),
             "seconds": round(seconds, 1), "file_mib": round(report.size_bytes / MIB, 1),
             "rel_diff": report.rel_diff, "passed": report.passed}
    if failure:
        entry["verification"] = failure
    return entry


def _child(name, format, size):
    with tempfile.TemporaryDirectory(prefix="export_memory_") as folder:
        try:
            entry = _one(name, format, size, folder)
        except Exception as error:  # say which cell failed and why; the sweep goes on
            lines = str(error).strip().splitlines()
            entry = {"model": name, "format": format, "size": size, "passed": False,
                     "error": f"{type(error).__name__}: {lines[0] if lines else ''}"[:400]}
    print("RESULT " + json.dumps(entry), flush=True)


def run_cell(name, format, size, timeout=3600):
    """`_child` in a fresh process (memory figures of one export alone); the figures as a dict."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([os.path.join(root, "tests"), root, os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "benchmarks.export_memory", "--child", name, format, str(size)]
    try:
        proc = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": name, "format": format, "size": size, "passed": False, "error": f"timeout {timeout} s"}
    lines = [line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:  # killed (out of memory: -9) or crashed before it could report
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])[-400:]
        return {"model": name, "format": format, "size": size, "passed": False,
                "error": f"exit code {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["*"], help="registry names or globs (default: all)")
    parser.add_argument("--formats", nargs="*", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--json", help="append one line per cell here; cells already in it are skipped")
    parser.add_argument("--exclude", nargs="*", default=[], help="registry names or globs to leave out")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "FORMAT", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child[0], args.child[1], int(args.child[2]))
    import keras_senet as ks
    from benchmarks.edge_compat import smallest_first

    names = smallest_first({n for n in ks.list_models() for pattern in args.models if fnmatch.fnmatch(n, pattern)
                            and not any(fnmatch.fnmatch(n, skip) for skip in args.exclude)})
    if not names:
        parser.error(f"--models {args.models} matches no registered model")
    done = set()
    if args.json and os.path.exists(args.json):
        with open(args.json) as f:
            done = {(e["model"], e["format"], e["size"]) for e in map(json.loads, f) if "error" not in e}
    for name in names:
        for format in args.formats:
            if (name, format, args.size) in done:
                continue
            entry = run_cell(name, format, args.size)
            if "error" in entry:
                print(f"{name:28s} {format:11s} FAILED {entry['error']}", flush=True)
            else:
                print(f"{name:28s} {format:11s} weights {entry['weights_mib']:7.1f} MiB  model {entry['model_mib']:6d}"
                      f"  peak {entry['peak_mib']:6d} (+{entry['extra']:5.1f}x)  {entry['seconds']:6.1f} s"
                      f"  rel_diff {entry['rel_diff']:.1e}  {'ok' if entry['passed'] else 'FAILED verification'}",
                      flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(entry) + "\n")


if __name__ == "__main__":
    main()
