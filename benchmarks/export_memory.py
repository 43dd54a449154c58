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
tolerance is reported with its figures, the reason, ``FAILED verification``, and the Keras model's own
float32-vs-float64 difference on the same inputs, the round-off the random network amplifies). ``int8`` is
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
# int8 quantised by ai-edge-quantizer (quantizer="ai-edge-quantizer"): a cell of its own, not in the default sweep
AI_EDGE_INT8 = "int8-aeq"
CELLS = FORMATS + (AI_EDGE_INT8,)
SUFFIX = {"saved_model": "", "tflite": ".tflite", "int8": ".tflite", AI_EDGE_INT8: ".tflite", "onnx": ".onnx"}
INT8_CELLS = ("int8", AI_EDGE_INT8)
# the models of issue 17's tables
NAMED = ("seresnet50", "seresnext26t_32x4d", "seresnext101_32x8d", "legacy_senet154", "seresnet269d",
         "seresnextaa201d_32x8d")
# int8 with random weights: the export must load and run in LiteRT, its accuracy is not the point here
INT8_TOLERANCES = {"top1_agreement": 0.0, "feature_rel_rms": float("inf")}


def _random_model(name, size):
    """The cell's network: random weights (seed 0), BatchNorm statistics calibrated on 8 random images."""
    import keras
    import numpy as np

    import keras_senet as ks
    from randomise import calibrate_batchnorm  # tests/randomise.py (the parent puts tests/ on the path)

    keras.utils.set_random_seed(0)  # the same random network in every run of a cell
    images = np.random.default_rng(0).standard_normal((8, size, size, 3)).astype("float32")
    model = ks.create_model(name, weights=None, input_shape=(size, size, 3), classifier_activation=None)
    calibrate_batchnorm(model, images)
    return model, images


def _int8_options(format, io_type, **calibration):
    """`export` options of an int8 cell: its quantiser, `io_type` (None: the export's default) and its
    calibration data (``representative_data=`` or ``calibration=``)."""
    return dict(quantize="int8", tolerances=INT8_TOLERANCES, io_type=io_type,
                quantizer="ai-edge-quantizer" if format == AI_EDGE_INT8 else "tensorflow", **calibration)


def _one(name, format, size, folder, weights_file=None, io_type=None):
    """One cell, in this (fresh) process: returns the figures as a dict. With `weights_file` (the network's
    weights, saved by another process) the model is built and loaded from it, as a user holds a model
    loaded from a checkpoint; without it, it is built and calibrated here (the BatchNorm calibration's
    training-mode call at batch 8 leaves activation memory held: 7.5 GB for regnety_1280)."""
    import gc

    import numpy as np

    import keras_senet as ks
    from benchmarks.fastpath_memory import _AnonPeak, _memory
    from keras_senet.export import export

    if weights_file is None:
        model, images = _random_model(name, size)
    else:
        images = np.random.default_rng(0).standard_normal((8, size, size, 3)).astype("float32")
        model = ks.create_model(name, weights=None, input_shape=(size, size, 3), classifier_activation=None)
        model.load_weights(weights_file)
    model(images[:1], training=False)
    gc.collect()
    weights = sum(int(np.prod(w.shape)) * 4 for w in model.weights) / MIB
    before = _memory()["RssAnon"]
    options = {}
    if format in INT8_CELLS:
        options = _int8_options(format, io_type, representative_data=images)
    peak = _AnonPeak()
    entry, failure = _timed_export(lambda path: export(model, path, "tflite" if format in INT8_CELLS else format,
                                                       overwrite=True, **options), name, format, size, folder)
    highest = peak.stop()
    entry.update(weights_mib=round(weights, 1), model_mib=round(before), peak_mib=round(highest),
                 extra=round((highest - before) / weights, 1))
    if failure and format not in INT8_CELLS:  # how much of the difference is float32 round-off the network amplifies
        entry["keras_fp32_vs_fp64"] = _float32_error(model, size)
    return entry


def _one_low_memory(name, format, size, folder, weights_file, io_type=None, pieces=None):
    """One cell through `export_from_source(..., low_memory=True, pieces=pieces)`: this process never holds the
    model (loaded from `weights_file` in the export's first process); int8 calibrates on 8 smooth pictures in a
    folder. `pieces`: how many pieces to convert in (None: the export's automatic choice)."""
    import PIL.Image

    from benchmarks.fastpath_memory import _memory
    from images import smooth_images  # tests/images.py
    from keras_senet.export.from_source import export_from_source

    with open(weights_file + ".json") as f:
        weights = json.load(f)["weights_mib"]
    options = {}
    if format in INT8_CELLS:
        calibration = os.path.join(folder, "calibration")
        for index, image in enumerate(smooth_images(8, size, size)):
            os.makedirs(os.path.join(calibration, str(index % 2)), exist_ok=True)
            PIL.Image.fromarray(image).save(os.path.join(calibration, str(index % 2), f"{index}.png"))
        options = _int8_options(format, io_type, calibration=calibration)
    before = _memory()["RssAnon"]
    target = "onnx" if format == "onnx" else "tflite"
    entry, failure = _timed_export(lambda path: export_from_source(name, path, target, weights=weights_file,
                                                                   input_size=size, low_memory=True, overwrite=True,
                                                                   pieces=pieces, **options),
                                   name, format, size, folder)
    # peak_mib and extra: from the parent's poll over the process tree (`run_cell`)
    entry.update(weights_mib=weights, model_mib=round(before), peak_mib=round(before), extra=0.0, low_memory=True)
    if failure and format not in INT8_CELLS:  # after the export (not polled): the model's own float32 round-off
        import keras_senet as ks

        model = ks.create_model(name, weights=weights_file, input_shape=(size, size, 3))  # (the CLI's head, as exported)
        entry["keras_fp32_vs_fp64"] = _float32_error(model, size)
    return entry


def _timed_export(run, name, format, size, folder):
    """``run(path)`` (an export to `folder`) between the lines the parent polls memory for (`run_cell`):
    ``(entry, failure)``, the cell's figures without memory and why verification failed (None when it passed).
    An export that converts and runs but misses its tolerance still counts; any other error is raised."""
    from keras_senet.export import ExportError

    print(EXPORT_START, flush=True)
    start = time.perf_counter()
    failure = None
    try:
        report = run(os.path.join(folder, name + SUFFIX[format]))
    except ExportError as error:
        if error.report is None or error.report.rel_diff is None:
            raise
        report, failure = error.report, "; ".join(error.report.failures)
    seconds = time.perf_counter() - start
    print(EXPORT_END, flush=True)
    entry = {"model": name, "format": format, "size": size, "seconds": round(seconds, 1),
             "file_mib": round(report.size_bytes / MIB, 1), "rel_diff": report.rel_diff, "passed": report.passed}
    if failure:
        entry["verification"] = failure
    if getattr(report, "pieces", 1) > 1:
        entry["pieces"] = report.pieces
    return entry, failure


def _float32_error(model, size):
    """Max |float32 - float64| / max |float64| of the Keras model's own logits on the export's 16 seeded
    verification inputs (`keras_senet.export.api` draws them so): the round-off a deep network with random
    weights amplifies, the scale against which an export's difference is read (tests/timm_reference.py
    does the same with timm). The float64 copy is made a piece at a time (`keras_senet.export.pieces`, one per
    GiB of float32 weights), so that a model over a third of the machine's memory fits beside it."""
    import gc

    import keras
    import numpy as np

    from keras_senet.export.api import RANDOM_IMAGES
    from keras_senet.export.pieces import automatic_pieces, split

    images = np.random.default_rng(0).standard_normal((RANDOM_IMAGES, size, size, 3))

    def float64(layer):
        config = layer.get_config()
        if "dtype" in config:
            config["dtype"] = "float64"
        return layer.__class__.from_config(config)

    expected = images
    for piece in split(model, automatic_pieces(model)):
        wide = keras.models.clone_model(piece, clone_function=float64,  # (a float64 input, not the piece's float32)
                                        input_tensors=keras.Input(piece.input.shape[1:], dtype="float64"))
        wide.set_weights([np.asarray(w, "float64") for w in piece.get_weights()])
        expected = np.concatenate([np.asarray(wide(expected[i:i + 4], training=False))
                                   for i in range(0, len(expected), 4)])
        del wide
        gc.collect()
    actual = np.concatenate([np.asarray(model(images[i:i + 4].astype("float32"), training=False))
                             for i in range(0, len(images), 4)])
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def _child(name, format, size, baseline="calibrated", io_type=None, pieces=None):
    with tempfile.TemporaryDirectory(prefix="export_memory_") as folder:
        try:
            weights_file = None
            if baseline in ("loaded", "low-memory"):  # the network made and saved by another process
                weights_file = os.path.join(folder, "network.weights.h5")
                subprocess.run([sys.executable, "-m", "benchmarks.export_memory", "--save-network", name, str(size),
                                weights_file], check=True, capture_output=True)
            if baseline == "low-memory":
                entry = _one_low_memory(name, format, size, folder, weights_file, io_type, pieces)
            else:
                entry = _one(name, format, size, folder, weights_file, io_type)
            entry["baseline"] = baseline
            if io_type is not None:
                entry["io_type"] = io_type
            if pieces is not None:
                entry["pieces_asked"] = pieces
        except Exception as error:  # say which cell failed and why; the sweep goes on
            lines = str(error).strip().splitlines()
            entry = {"model": name, "format": format, "size": size, "passed": False,
                     "error": f"{type(error).__name__}: {lines[0] if lines else ''}"[:400]}
    print("RESULT " + json.dumps(entry), flush=True)


EXPORT_START, EXPORT_END = "EXPORT START", "EXPORT END"


# The kernel's PF_FORKNOEXEC task flag (include/linux/sched.h): "forked but didn't exec", field 9 of /proc/PID/stat
_FORKED_NOT_EXECED = 0x40


def _forked_not_execed(pid):
    """Whether process `pid` is a fork that has not exec'd yet: its RssAnon is its parent's memory (vfork: the same
    pages; fork: pages shared copy-on-write), not memory of its own. ``ctypes.util.find_library`` (run inside
    the ONNX export) starts ``/sbin/ldconfig -p`` so: a poll that lands between the fork and the exec counted the
    exporting process twice (SE-ResNet-50: +14.0x instead of +4.7x, CI 2026-12-04, under load)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    flags = int(stat[stat.rindex(")") + 2:].split()[6])  # after "pid (comm) ": state, ppid, ... flags is the 7th
    return bool(flags & _FORKED_NOT_EXECED)


# A process's anonymous memory: resident (RssAnon) and swapped out (VmSwap; 0 without swap). With a swap file a
# cell shows what the export needs, not only what the machine's RAM held of it.
_ANON_FIELDS = ("RssAnon", "VmSwap")


def _tree_anon_mib(pid, per_process=None, forks=None):
    """Anonymous memory (RssAnon + VmSwap, MiB) of process `pid` and all its descendants (the low-memory
    export's own processes; a fork that has not exec'd yet is left out, `_forked_not_execed`); with a dict
    `per_process`, each process's highest reading so far is kept in it by pid (first seen first); with a dict
    `forks`, each fork left out's highest reading, by pid."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/task/{current}/children") as f:
                pending += [int(child) for child in f.read().split()]
            left_out = current != pid and _forked_not_execed(current)
            with open(f"/proc/{current}/status") as f:
                fields = dict(line.split(":", 1) for line in f if line.startswith(_ANON_FIELDS))
            mib = sum(int(fields[k].split()[0]) for k in _ANON_FIELDS) / 1024
            if left_out:
                if forks is not None:
                    forks[current] = max(forks.get(current, 0.0), mib)
                continue
            total += mib
            if per_process is not None:
                per_process[current] = max(per_process.get(current, 0.0), mib)
        except (OSError, KeyError, ValueError):  # a process that has just exited
            pass
    return total


def _polled(command, cwd, env, timeout, interval=0.005, per_process=None, forks=None):
    """Run `command`; while it is between the lines ``EXPORT START`` and ``EXPORT END`` on its stdout, poll
    its process tree's RssAnon from here every `interval` s. Returns (returncode or None on timeout, stdout
    lines, stderr text, the highest MiB seen). A dict `per_process` gets each process's own highest MiB by pid
    (the command first, then the processes it starts, in the order first seen); a dict `forks` the forks left
    out (`_tree_anon_mib`).

    Polled from outside: a thread polling inside the exporting process is not scheduled while a converter's
    C++ call holds the GIL. TensorFlow's TFLite conversion does: on regnety_2560 such a thread saw 9.0 GB
    while `ps` read 17.7 GB (benchmarks/NOTES.md, "Export memory polled from outside", 2026-12-04)."""
    import threading

    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr, state = [], [], {"on": False, "peak": 0.0}

    def read_stdout():
        for line in proc.stdout:
            stdout.append(line.rstrip("\n"))
            if line.startswith(EXPORT_START):
                state["on"] = True
            elif line.startswith(EXPORT_END):
                state["on"] = False

    readers = [threading.Thread(target=read_stdout, daemon=True),
               threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return None, stdout, "".join(stderr), state["peak"]
        if state["on"]:
            state["peak"] = max(state["peak"], _tree_anon_mib(proc.pid, per_process, forks))
        time.sleep(interval)
    for reader in readers:
        reader.join()
    return proc.returncode, stdout, "".join(stderr), state["peak"]


def _swap_total_mib():
    """The machine's swap space in MiB (/proc/meminfo's SwapTotal; 0 without swap)."""
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("SwapTotal")) // 1024


def run_cell(name, format, size, baseline="calibrated", timeout=3600, io_type=None, pieces=None):
    """`_child` in a fresh process (memory figures of one export alone); the figures as a dict. ``peak_mib``
    is the highest of what this process polled from outside and what the child polled inside
    (``peak_mib_inside``, kept to show what an inside poll misses). `io_type`: the int8 cells' I/O (None: the
    export's default, int8). `pieces`: the low-memory baseline's number of pieces (None: automatic)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([os.path.join(root, "tests"), root, os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "benchmarks.export_memory", "--child", name, format, str(size),
               "--baseline", baseline] + (["--io-type", io_type] if io_type else []) + (
                   ["--pieces", str(pieces)] if pieces else [])
    per_process, forks = {}, {}
    returncode, stdout, stderr, outside = _polled(command, root, env, timeout, per_process=per_process, forks=forks)
    # a machine with swap: the peak may be over its RAM (the poll counts swapped-out memory)
    swap = {"swap_total_mib": mib for mib in [_swap_total_mib()] if mib}
    if returncode is None:
        return {"model": name, "format": format, "size": size, "passed": False, "error": f"timeout {timeout} s",
                **swap}
    lines = [line[7:] for line in stdout if line.startswith("RESULT ")]
    if not lines:  # killed (out of memory: -9) or crashed before it could report
        tail = " ".join(stderr.strip().splitlines()[-3:])[-400:]
        return {"model": name, "format": format, "size": size, "passed": False,
                "error": f"exit code {returncode}: {tail}", "peak_mib_before_it_ended": round(outside), **swap}
    entry = json.loads(lines[-1])
    if "peak_mib" in entry:
        entry["peak_mib_inside"] = entry["peak_mib"]
        entry["peak_mib"] = round(max(outside, entry["peak_mib"]))
        entry["extra"] = round((entry["peak_mib"] - entry["model_mib"]) / entry["weights_mib"], 1)
    entry.update(swap)
    if len(per_process) > 1:  # the low-memory export's steps: which one sets the peak
        entry["peak_mib_per_process"] = [round(mib) for mib in per_process.values()]
    if forks:  # what a poll summing every process would have added (the parent's pages, counted twice)
        entry["forks_left_out_mib"] = [round(mib) for mib in forks.values()]
    return entry


def _cells(path):
    """The cells a ``--json`` file already has without an error (another worker may have added some)."""
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {(e["model"], e["format"], e["size"]) for e in map(json.loads, f) if _complete(e)}


def _complete(entry):
    """A cell not to run again: measured, and a missed float32 verification has its float32 error beside it."""
    missed = not entry.get("passed") and entry.get("format") not in INT8_CELLS
    return "error" not in entry and not (missed and "keras_fp32_vs_fp64" not in entry)


def latest(*paths):
    """The last entry per (model, format, size) of one or more ``--json`` files, in order (a rerun cell, or the
    same cell in a later file, replaces the earlier line)."""
    cells = {}
    for path in paths:
        with open(path) as f:
            for entry in map(json.loads, f):
                cells[(entry["model"], entry["format"], entry["size"])] = entry
    return list(cells.values())


def summary(entries, large_mib=100, named=()):
    """Markdown: per format, the cells and how they ended, ``extra`` (x weights) and seconds (median / max),
    over all models and over those with at least `large_mib` MiB of weights; ONNX time / TFLite time per
    model; then one row per model in `named`. The formats: `FORMATS`, and ai-edge-quantizer's int8 where a
    cell of it is in `entries`."""
    import statistics

    formats = FORMATS + ((AI_EDGE_INT8,) if any(e["format"] == AI_EDGE_INT8 for e in entries) else ())

    def spread(values, digits=1):
        return f"{statistics.median(values):.{digits}f} / {max(values):.{digits}f}" if values else "-"

    lines = [f"| format | cells | exported and verified | failed verification | failed | extra x weights, median / max "
             f"| same, models >= {large_mib} MiB | seconds, median / max |", "|---|---|---|---|---|---|---|---|"]
    for format in formats:
        cells = [e for e in entries if e["format"] == format]
        measured = [e for e in cells if "error" not in e]
        large = [e["extra"] for e in measured if e["weights_mib"] >= large_mib]
        lines.append(f"| {format} | {len(cells)} | {sum(e['passed'] for e in measured)} | "
                     f"{sum(not e['passed'] for e in measured)} | {len(cells) - len(measured)} | "
                     f"{spread([e['extra'] for e in measured])} | {spread(large)} | "
                     f"{spread([e['seconds'] for e in measured])} |")
    by_cell = {(e["model"], e["format"]): e for e in entries if "error" not in e}
    ratios = [by_cell[(m, "onnx")]["seconds"] / by_cell[(m, "tflite")]["seconds"]
              for m, f in by_cell if f == "onnx" and (m, "tflite") in by_cell]
    lines.append("")
    lines.append(f"ONNX export time / TFLite export time, per model: median / max {spread(ratios, 2)} "
                 f"({len(ratios)} models).")
    missed = [e for e in by_cell.values() if not e["passed"] and e["format"] not in INT8_CELLS]
    scaled = [e["rel_diff"] / e["keras_fp32_vs_fp64"] for e in missed if e.get("keras_fp32_vs_fp64")]
    if missed:
        lines.append(f"Missed the 1e-4 verification tolerance: {len(missed)} cells "
                     f"({', '.join(sorted({e['model'] for e in missed}))}); export difference / the Keras model's own "
                     f"float32-vs-float64 difference on the same inputs: median / max {spread(scaled, 2)} "
                     f"({len(scaled)} measured, {len(missed) - len(scaled)} not checked).")
    if named:
        lines += ["", "| model | weights MiB | " + " | ".join(f"{f}: peak MiB (+x), s" for f in formats) + " |",
                  "|---|---|" + "---|" * len(formats)]
        for model in named:
            row = [by_cell.get((model, f)) for f in formats]
            if not any(row):
                continue
            weights = next(e["weights_mib"] for e in row if e)
            cells = [f"{e['peak_mib']} (+{e['extra']}x), {e['seconds']}" + ("" if e["passed"] else " *")
                     if e else "not run" for e in row]
            lines.append(f"| {model} | {weights} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["*"], help="registry names or globs (default: all)")
    parser.add_argument("--formats", nargs="*", default=list(FORMATS), choices=CELLS,
                        help=f"default: {' '.join(FORMATS)}; {AI_EDGE_INT8}: int8 quantised by ai-edge-quantizer")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--json", help="append one line per cell here; cells already in it are skipped")
    parser.add_argument("--exclude", nargs="*", default=[], help="registry names or globs to leave out")
    parser.add_argument("--largest-first", action="store_true",
                        help="largest models first (a second worker on the same --json file meets the first)")
    parser.add_argument("--summary", nargs="+", metavar="JSON",
                        help="only print the README tables of --json files (a cell in a later file replaces the "
                             "same cell in an earlier one)")
    parser.add_argument("--baseline", choices=("calibrated", "loaded", "low-memory"), default="calibrated",
                        help="the model the export starts from: built and BatchNorm-calibrated in the measured "
                             "process (default, the sweep of 2026-12-03), or built and loaded from a weights file "
                             "another process saved (as a user's checkpoint: less memory held before the export), "
                             "or (tflite, int8, onnx) that file exported with low_memory=True: the measured process never "
                             "holds the model, the peak is over the export's own processes")
    parser.add_argument("--io-type", choices=("int8", "uint8", "float32"),
                        help="the int8 cells' input and output type (default: the export's, int8); ai-edge-quantizer "
                             "leaves some families' ops in float, which needs float32")
    parser.add_argument("--pieces", type=int,
                        help="with --baseline low-memory: convert in this many pieces (default: the export's "
                             "automatic choice: one per GiB of weights, TensorFlow's int8 at least 3 from 100 MiB); use a --json "
                             "file of its own")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "FORMAT", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--save-network", nargs=3, metavar=("MODEL", "SIZE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.save_network:
        model = _random_model(args.save_network[0], int(args.save_network[1]))[0]
        model.save_weights(args.save_network[2])
        with open(args.save_network[2] + ".json", "w") as f:
            json.dump({"weights_mib": round(sum(w.numpy().nbytes for w in model.weights) / MIB, 1)}, f)
        return None
    if args.child:
        return _child(args.child[0], args.child[1], int(args.child[2]), args.baseline, args.io_type, args.pieces)
    if args.summary:
        return print(summary(latest(*args.summary), named=NAMED))
    if args.baseline == "low-memory" and set(args.formats) - {"tflite", "onnx", *INT8_CELLS}:
        parser.error(f"--baseline low-memory exports TFLite and ONNX only: pass --formats tflite int8 {AI_EDGE_INT8} onnx")
    if args.pieces is not None and args.baseline != "low-memory":
        parser.error(f"--pieces {args.pieces} needs --baseline low-memory (only the low-memory export converts in pieces)")
    import keras_senet as ks
    from benchmarks.edge_compat import smallest_first

    names = smallest_first({n for n in ks.list_models() for pattern in args.models if fnmatch.fnmatch(n, pattern)
                            and not any(fnmatch.fnmatch(n, skip) for skip in args.exclude)})
    if args.largest_first:
        names.reverse()
    if not names:
        parser.error(f"--models {args.models} matches no registered model")
    done = set()
    if args.json and os.path.exists(args.json):
        with open(args.json) as f:
            done = {(e["model"], e["format"], e["size"]) for e in map(json.loads, f) if _complete(e)}
    for name in names:
        for format in args.formats:
            if (name, format, args.size) in done or (args.json and (name, format, args.size) in _cells(args.json)):
                continue
            entry = run_cell(name, format, args.size, args.baseline, io_type=args.io_type, pieces=args.pieces)
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
