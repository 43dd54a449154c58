"""Every registered model through the TFLite ``gpu`` profile: TensorFlow's GPU compatibility analyzer (issue 14).

    nice -n 10 python -m benchmarks.edge_compat [--size 64] [--models 'seresnet*'] [--chunk 8] [--verify]
        [--json out.json]

Per model: `keras_senet.export.export(model, ..., format="tflite", target="gpu")` with random weights at
``size x size`` (fp32, batch 1, logits: a softmax of random weights would hide differences; BatchNorm
statistics calibrated on 8 random images, as in tests/randomise.py): the profile's
rewrites (pooled squeeze, relu6 hard-sigmoid, pooled head), with ``--verify`` the verification in LiteRT
against the unmodified Keras model (max relative difference), the verdict of
``tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)``, and the ops of the file (MEAN must be
gone). Models run smallest first, in chunks, each chunk in a fresh process (memory stays bounded); one line
per model as it finishes, a summary at the end. Exit status 1 when any model fails.
"""

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def _one(name, size, folder, verify):
    import keras
    import numpy as np

    import keras_senet as ks
    from keras_senet.export import ExportError, export
    from randomise import calibrate_batchnorm  # tests/randomise.py (the worker puts tests/ on the path)

    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    entry = {"model": name}
    try:
        model = ks.create_model(name, weights=None, input_shape=(size, size, 3), classifier_activation=None)
        # Default initialisers with default BatchNorm statistics let some networks' activations grow without
        # bound (GhostNetV3's summed re-parameterisable branches: logits of ~1e12 at 64x64), where float32
        # round-off alone exceeds the verification tolerance. BatchNorm statistics of a random batch (what
        # training converges to) keep every network in its working range, as in the CI export tests.
        calibrate_batchnorm(model, np.random.default_rng(0).standard_normal((8, size, size, 3)).astype("float32"))
        path = os.path.join(folder, f"{name}.tflite")
        # (a float32 file over 2 GiB is written with buffer offsets: regnety_1280/2560 are not refused)
        report = export(model, path, "tflite", target="gpu", overwrite=True, verify=verify)
        entry.update(ok=True, report=report)
    except ExportError as error:
        entry.update(ok=False, report=error.report, error=str(error).splitlines()[0])
    except Exception as error:  # a model that cannot be built or converted at this size: say which and why
        lines = str(error).strip().splitlines()
        entry.update(ok=False, report=None, error=f"{type(error).__name__}: {lines[-1] if lines else ''}")
    report = entry.pop("report")
    if report is not None:
        entry.update(rel_diff=report.rel_diff, analyzer=report.compatibility.get("gpu analyzer", ""),
                     ops=report.ops, mean_ops=report.ops.get("MEAN", 0))
    entry["seconds"] = round(time.perf_counter() - start, 1)
    keras.backend.clear_session()
    return entry


def smallest_first(names):
    """The mobile families first, then the ResNet-style ones by depth (the number after resnet / resnext /
    senet): on a busy machine the most models are covered soonest, the 150-270-layer ones last."""
    import keras_senet as ks
    from keras_senet.models.mobile_spec import MobileSpec

    def key(name):
        mobile = isinstance(ks.zoo.get_entry(name).spec, MobileSpec)
        depth = re.search(r"(?:resnet|resnext|senet)[a-z]*(\d+)", name)
        return (not mobile, int(depth.group(1)) if depth else 0, name)

    return sorted(names, key=key)


def _worker(names, size, verify):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            print("RESULT " + json.dumps(_one(name, size, folder, verify)), flush=True)


def _line(entry):
    if "analyzer" not in entry:
        return f"{entry['model']:<28} FAILED  {entry.get('error', '')}"
    verdict = "ok    " if entry["ok"] else "FAILED"
    analyzer = entry["analyzer"].split(":")[0]
    diff = "not verified" if entry["rel_diff"] is None else f"rel diff {entry['rel_diff']:.1e}"
    return (f"{entry['model']:<28} {verdict}  {diff}  analyzer {analyzer:<6}  "
            f"MEAN ops {entry['mean_ops']}  {entry['seconds']:.0f} s" + ("" if entry["ok"] else f"  {entry['error']}"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.edge_compat", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="square input side (default 64)")
    parser.add_argument("--models", default="*", help="shell-style pattern of registry names (default all)")
    parser.add_argument("--chunk", type=int, default=8, help="models per fresh process")
    parser.add_argument("--verify", action="store_true",
                        help="also run each export in LiteRT against Keras (the CI tests do, per family)")
    parser.add_argument("--json", help="also write the per-model results here")
    parser.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        _worker(args.worker, args.size, args.verify)
        return 0

    import keras_senet as ks

    names = smallest_first([n for n in ks.list_models() if fnmatch.fnmatch(n, args.models)])
    print(f"# gpu profile, {len(names)} models, {args.size}x{args.size} fp32 batch 1, random weights", flush=True)
    results, start = [], time.perf_counter()
    for i in range(0, len(names), args.chunk):
        chunk = names[i:i + args.chunk]
        command = [sys.executable, "-m", "benchmarks.edge_compat", "--size", str(args.size), "--worker", *chunk]
        with tempfile.TemporaryFile("w+") as errors:
            worker = subprocess.Popen(command + (["--verify"] if args.verify else []), stdout=subprocess.PIPE,
                                      stderr=errors, text=True)
            found = []
            for line in worker.stdout:  # one line per model as it finishes
                if line.startswith("RESULT "):
                    found.append(json.loads(line[7:]))
                    print(_line(found[-1]), flush=True)
            worker.wait()
            errors.seek(0)
            tail = (errors.read().strip().splitlines() or [f"exit status {worker.returncode}"])[-1]
        seen = {entry["model"] for entry in found}
        for name in chunk:
            if name not in seen:
                found.append({"model": name, "ok": False, "error": f"worker died: {tail}"})
                print(_line(found[-1]), flush=True)
        results += found
    passed = [r for r in results if r["ok"]]
    analyzed = [r for r in results if r.get("analyzer", "").startswith("ok")]
    diffs = [r["rel_diff"] for r in passed if r.get("rel_diff") is not None]
    if not args.verify:
        checked = "(not verified here: --verify)"
    else:
        checked = (f"and verified against Keras (max relative difference {max(diffs):.1e})" if diffs
                   else "and verified against Keras")
    print(f"\nsummary: {len(passed)}/{len(results)} models exported with target='gpu' {checked}; "
          f"{len(analyzed)}/{len(results)} pass the GPU compatibility analyzer; "
          f"{sum(1 for r in results if r.get('mean_ops'))} with a MEAN op left (GCNet: its LayerNorm's); "
          f"{(time.perf_counter() - start) / 60:.0f} min")
    failed = [r["model"] for r in results if not r["ok"]]
    if failed:
        print("failed: " + ", ".join(failed))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
