"""Peak resident memory and speed of the fast inference path, per model (issue 17).

    python -m benchmarks.fastpath_memory                                   # seresnet50, seresnext50_32x4d
    python -m benchmarks.fastpath_memory --models seresnet50 --graph       # plus the graph-frozen path
    python -m benchmarks.fastpath_memory --models seresnet50 --rounds 3 --batches 1 --no-memory
    python -m benchmarks.fastpath_memory --digits WORKDIR   # bf16 vs fp32 on `keras-senet quickstart`'s model

Memory: each path runs in a fresh process (random weights, 224x224, batch 16, two calls) and reports
its peak resident set (VmHWM of /proc/self/status) and, in brackets, its peak anonymous resident
memory (RssAnon polled every 5 ms: without shared-library pages, which vary by ~100 MiB): ``model`` is the process after building the
model (TensorFlow and Keras loaded), ``function`` a plain ``tf.function`` of the model
(`compile_predict(model, freeze=False)`), ``fast`` `compile_predict(model)` (BatchNorm folded into a
copy), ``graph`` `compile_predict(model, freeze="graph")` (the frozen graph; with ``--graph``),
``predict`` ``model.predict`` and ``bf16`` `compile_predict(model, precision="bfloat16")` (with
``--bf16``, where the CPU has it). "fast - function" is the fast path's extra memory in weight bytes.

Speed: one more process holds the paths side by side and times them alternately (``--rounds``
rounds per batch size after two warm-up calls each); the ratios are of the per-path minima (the
medians beside). Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MIB = 2**20


def _memory():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) * 1024 / MIB for k in ("VmRSS", "VmHWM", "RssAnon")}


class _AnonPeak:
    """Highest RssAnon seen by a thread polling /proc/self/status every 5 ms: the process's own memory
    without the pages of its shared libraries, which the kernel loads and evicts lazily (VmHWM moved by
    ~100 MiB between identical runs on a busy machine)."""

    def __init__(self):
        import threading

        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _memory()["RssAnon"])
            self._stop.wait(0.005)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return max(self.peak, _memory()["RssAnon"])


def _build(case):
    import tensorflow as tf

    import keras_senet as ks

    if case.get("threads"):
        tf.config.threading.set_intra_op_parallelism_threads(case["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(1)
    model = ks.create_model(case["model"], weights=None, input_shape=(case["size"], case["size"], 3))
    return model


def _path(model, path):
    from keras_senet.inference import compile_predict

    if path == "function":
        return compile_predict(model, freeze=False)
    if path == "fast":
        return compile_predict(model)
    if path == "graph":
        return compile_predict(model, freeze="graph")
    if path == "bf16":
        return compile_predict(model, precision="bfloat16")
    if path == "predict":
        return lambda x: model.predict(x, batch_size=len(x), verbose=0)
    raise ValueError(f"unknown path {path!r}")


def _images(batch, size):
    import numpy as np

    return np.random.default_rng(0).standard_normal((batch, size, size, 3), dtype=np.float32)


def child_memory(case):
    """Peak RSS and peak anonymous RSS (MiB) after building the model and after two calls of one path."""
    anon = _AnonPeak()
    model = _build(case)
    weights = sum(v.numpy().nbytes for v in model.weights) / MIB
    after_model = _memory()["VmHWM"]
    x = _images(case["batch"], case["size"])
    if case["path"] != "model":
        predict = _path(model, case["path"])
        predict(x)
        predict(x)
    return {"weights_mib": weights, "model_peak": after_model, "peak": _memory()["VmHWM"], "anon_peak": anon.stop()}


def child_speed(case):
    """Per-path call times, paths alternated within each round."""
    model = _build(case)
    paths = {p: _path(model, p) for p in case["paths"]}
    out = {}
    for batch in case["batches"]:
        x = _images(batch, case["size"])
        for predict in paths.values():
            predict(x)
            predict(x)
        times = {p: [] for p in paths}
        for _ in range(case["rounds"]):
            for p, predict in paths.items():
                start = time.perf_counter()
                predict(x)
                times[p].append(time.perf_counter() - start)
        out[str(batch)] = times
    return out


def digits_agreement(workdir):
    """bfloat16 against float32 on the model of ``keras-senet quickstart --workdir WORKDIR --no-export``,
    over its held-out test split (the quickstart's own preprocessing): accuracy, top-1 agreement, and
    the largest difference of probabilities and of logits (the softmax head re-run without softmax)."""
    import keras
    import numpy as np

    from keras_senet.data import load_dataset
    from keras_senet.inference import compile_predict
    from keras_senet.quickstart import DIGITS

    model = keras.models.load_model(os.path.join(workdir, "run", "model.keras"))
    test = load_dataset(os.path.join(workdir, "digits"), "test", batch_size=64, training=False,
                        model=DIGITS["model"], input_size=DIGITS["input_size"], crop_pct=DIGITS["crop_pct"],
                        flip=DIGITS["flip"], crop_scale=DIGITS["crop_scale"])
    pairs = [(x.numpy(), y.numpy()) for x, y in test]
    x, y = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    head = model.layers[-1]
    config = dict(head.get_config(), activation="linear", name="logits")
    logits_layer = head.__class__.from_config(config)
    logits_model = keras.Model(model.inputs, logits_layer(model.layers[-2].output))
    logits_layer.set_weights(head.get_weights())
    p32, p16 = compile_predict(model)(x), compile_predict(model, precision="bfloat16")(x)
    l32, l16 = compile_predict(logits_model)(x), compile_predict(logits_model, precision="bfloat16")(x)
    return {"images": len(x), "accuracy_fp32": float((p32.argmax(1) == y).mean()),
            "accuracy_bf16": float((p16.argmax(1) == y).mean()),
            "top1_agreement": float((p32.argmax(1) == p16.argmax(1)).mean()),
            "max_prob_diff": float(np.abs(p32 - p16).max()), "max_logit_diff": float(np.abs(l32 - l16).max()),
            "mean_logit_diff": float(np.abs(l32 - l16).mean()), "max_abs_logit": float(np.abs(l32).max())}


def _run_child(kind, case, timeout=3600):
    cmd = [sys.executable, "-m", "benchmarks.fastpath_memory", "--child", kind, json.dumps(case)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"{kind} {case}: exit code {proc.returncode}\n{tail}")
    return json.loads(lines[-1])


def memory_table(models, paths, size, batch, threads, log=print):
    rows = {}
    for name in models:
        row = {}
        for path in ["model", *paths]:
            result = _run_child("memory", dict(model=name, path=path, size=size, batch=batch, threads=threads))
            row["weights"] = result["weights_mib"]
            row[path] = result["peak"]
            row[path + " anon"] = result["anon_peak"]
            log(f"  {name} {path}: peak {result['peak']:.0f} MiB, anonymous {result['anon_peak']:.0f} MiB")
        rows[name] = row
    head = ["model", "weights MiB", *[f"{p} peak MiB (anon)" for p in ["model", *paths]]]
    if "fast" in paths and "function" in paths:
        head.append("fast - function (x weights)")
    if "graph" in paths and "function" in paths:
        head.append("graph - function (x weights)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        cells = [name, f"{row['weights']:.0f}", *[f"{row[p]:.0f} ({row[p + ' anon']:.0f})" for p in ["model", *paths]]]
        for extra in ("fast", "graph"):
            if extra in paths and "function" in paths:
                cells.append(f"{(row[extra] - row['function']) / row['weights']:+.1f} "
                             f"({(row[extra + ' anon'] - row['function anon']) / row['weights']:+.1f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), rows


def speed_table(models, paths, size, batches, rounds, threads):
    lines = ["| model | batch | path | min ms | median ms | min / function | median / function |",
             "|---|---|---|---|---|---|---|"]
    raw = {}
    for name in models:
        result = _run_child("speed", dict(model=name, paths=paths, size=size, batches=batches, rounds=rounds,
                                          threads=threads))
        raw[name] = result
        for batch, times in result.items():
            base_min, base_med = min(times["function"]), statistics.median(times["function"])
            for path, t in times.items():
                lines.append(f"| {name} | {batch} | {path} | {min(t) * 1e3:.1f} | {statistics.median(t) * 1e3:.1f} | "
                             f"{min(t) / base_min:.3f} | {statistics.median(t) / base_med:.3f} |")
    return "\n".join(lines), raw


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fastpath_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="seresnet50,seresnext50_32x4d", help="comma-separated model names")
    parser.add_argument("--graph", action="store_true", help="also the graph-frozen path (~17x the weights)")
    parser.add_argument("--bf16", action="store_true", help="also precision='bfloat16' (CPU with BF16 only)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16, help="batch of the memory runs")
    parser.add_argument("--batches", default="16,1", help="batch sizes of the speed run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds per batch size")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--digits", metavar="WORKDIR", help="only: bf16 vs fp32 on a quickstart's digits model")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, case = args.child
        result = (child_memory if kind == "memory" else child_speed)(json.loads(case))
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    if args.digits:
        print(json.dumps(digits_agreement(args.digits), indent=1))
        return 0
    models = [m for m in args.models.split(",") if m]
    paths = ["function", "fast"] + (["graph"] if args.graph else []) + ["predict"] + (["bf16"] if args.bf16 else [])
    out = {}
    start = time.perf_counter()
    if not args.no_memory:
        print(f"# peak resident memory, batch {args.batch}, {args.size}x{args.size}, one fresh process per cell",
              flush=True)
        table, out["memory"] = memory_table(models, paths, args.size, args.batch, args.threads,
                                            log=lambda s: print(s, flush=True))
        print("\n" + table + "\n", flush=True)
    if not args.no_speed:
        timed = [p for p in paths if p != "predict"]
        batches = [int(b) for b in args.batches.split(",")]
        print(f"# speed: {', '.join(timed)} side by side in one process, {args.rounds} alternating rounds", flush=True)
        table, out["speed"] = speed_table(models, timed, args.size, batches, args.rounds, args.threads)
        print("\n" + table + "\n")
    print(f"total {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
