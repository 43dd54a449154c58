"""Exporting a large model stays within its memory bound (issue 17): ONNX export, the costly one, in a fresh
process as `python -m benchmarks.export_memory` measures it (peak anonymous resident memory over the
built model, in units of the model's weight bytes)."""

from benchmarks.export_memory import run_cell

# keras_senet.export.to_onnx.convert: SE-ResNet-50 measured +4.7-4.8x at 64x64 (2026-12-04, session 10; +5.7-6.2x
# before tf2onnx's weight bytes were dropped after its import); +21x with only tf2onnx's own copies cut, +88x
# through `model.export(format="onnx")`. Issue 17's bound for every export: +6x.
ONNX_EXTRA_LIMIT = 6


def test_large_model_onnx_export_stays_under_its_memory_bound():
    entry = run_cell("seresnet50", "onnx", 64, timeout=900)
    assert "error" not in entry, entry
    assert entry["passed"] and entry["rel_diff"] <= 1e-4
    assert entry["weights_mib"] > 100  # large enough that its copies, not TensorFlow's runtime, dominate
    assert entry["extra"] <= ONNX_EXTRA_LIMIT, entry


def test_sweep_file_keeps_the_latest_cell_and_the_summary_counts_outcomes(tmp_path):
    """`python -m benchmarks.export_memory --summary` (the README's table): a rerun cell replaces its earlier
    line; exported, failed-verification and failed cells are counted apart; ONNX / TFLite time per model."""
    import json

    from benchmarks.export_memory import latest, summary

    def cell(model, format, seconds, passed=True, **extra):
        return dict(model=model, format=format, size=224, weights_mib=100.0, model_mib=1000, peak_mib=1500,
                    extra=5.0, seconds=seconds, file_mib=100.0, rel_diff=1e-6, passed=passed, **extra)

    lines = [{"model": "a", "format": "onnx", "size": 224, "passed": False, "error": "exit code -9"},
             cell("a", "tflite", 10.0), cell("a", "onnx", 15.0),  # the rerun replaces the error
             cell("b", "tflite", 20.0, passed=False, verification="relative difference 2e-4 > 1e-4"),
             {"model": "b", "format": "onnx", "size": 224, "passed": False, "error": "timeout 3600 s"}]
    path = tmp_path / "sweep.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cells = latest(path)
    assert len(cells) == 4 and next(c for c in cells if c["model"] == "a" and c["format"] == "onnx")["seconds"] == 15.0
    table = summary(cells, named=("a",))
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert rows["tflite"].startswith("| tflite | 2 | 1 | 1 | 0 |")
    assert rows["onnx"].startswith("| onnx | 2 | 1 | 0 | 1 |")
    assert "median / max 1.50 / 1.50 (1 models)" in table
    assert "| a | 100.0 | not run | 1500 (+5.0x), 10.0 | not run | 1500 (+5.0x), 15.0 |" in table
    assert "int8-aeq" not in table  # its row and column only where such a cell was run

    # several files (`--summary A B`): a cell in a later file replaces the same cell in an earlier one; an
    # ai-edge-quantizer int8 cell adds its row and its column
    later = tmp_path / "later.jsonl"
    later.write_text(json.dumps(dict(cell("a", "tflite", 12.0), peak_mib=1400, extra=4.0)) + "\n"
                     + json.dumps(cell("a", "int8-aeq", 8.0)) + "\n")
    table = summary(latest(path, later), named=("a",))
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert rows["tflite"].startswith("| tflite | 2 | 1 | 1 | 0 | 4.5 / 5.0 |")
    assert rows["int8-aeq"].startswith("| int8-aeq | 1 | 1 | 0 | 0 | 5.0 / 5.0 |")
    assert "median / max 1.25 / 1.25 (1 models)" in table
    assert ("| a | 100.0 | not run | 1400 (+4.0x), 12.0 | not run | 1500 (+5.0x), 15.0 | 1500 (+5.0x), 8.0 |"
            in table)


def test_loaded_baseline_exports_the_same_network_from_a_weights_file():
    """`--baseline loaded`: the network is saved by another process and loaded, as from a checkpoint; it is
    the same network as the default baseline's (the export's difference from Keras on the same inputs is
    the same number). (What it is for, less memory held before the export, shows on large networks only.)"""
    calibrated = run_cell("lcnet_050", "tflite", 32, timeout=600)
    loaded = run_cell("lcnet_050", "tflite", 32, baseline="loaded", timeout=600)
    assert "error" not in calibrated and "error" not in loaded, (calibrated, loaded)
    assert (calibrated["baseline"], loaded["baseline"]) == ("calibrated", "loaded")
    assert loaded["passed"] and loaded["rel_diff"] == calibrated["rel_diff"] > 0
    assert loaded["weights_mib"] == calibrated["weights_mib"]


def test_peak_is_polled_from_outside_over_the_process_tree_between_the_markers():
    """`run_cell`'s poll (`benchmarks.export_memory._polled`) runs in the measuring process, so a converter
    holding the exporting process's GIL cannot hide its peak; it sums the processes the export starts (the
    low-memory export's steps), keeps each process's own peak, and counts only what happens between
    ``EXPORT START`` and ``EXPORT END``."""
    import sys

    from benchmarks.export_memory import _polled

    step = "b = b'x' * (300 * 2**20); import time; time.sleep(0.5)"  # 300 MiB touched, in a child process
    script = ("import subprocess, sys, time; b = b'y' * (500 * 2**20); time.sleep(0.3); del b; "  # before: not counted
              "print('EXPORT START', flush=True); "
              f"subprocess.run([sys.executable, '-c', {step!r}], check=True); print('EXPORT END', flush=True)")
    per_process = {}
    code, stdout, stderr, peak = _polled([sys.executable, "-c", script], None, None, timeout=120,
                                         per_process=per_process)
    assert code == 0 and stdout == ["EXPORT START", "EXPORT END"], stderr
    assert 300 <= peak < 450, peak
    command, step_mib = list(per_process.values())  # which process held what: the step, not the command
    assert command < 100 and 300 <= step_mib < 350, per_process


def test_peak_leaves_out_a_fork_that_has_not_exec_d():
    """A process the export forks holds its parent's pages until it execs (``ctypes.util.find_library`` forks
    ``/sbin/ldconfig -p`` inside the ONNX export): the poll counts that memory once, not twice."""
    import sys

    from benchmarks.export_memory import _polled

    script = ("import os, time; b = b'x' * (400 * 2**20); print('EXPORT START', flush=True); pid = os.fork()\n"
              "if pid == 0:\n    time.sleep(1.0); os._exit(0)\n"
              "os.waitpid(pid, 0); print('EXPORT END', flush=True)")
    per_process, forks = {}, {}
    code, stdout, stderr, peak = _polled([sys.executable, "-c", script], None, None, timeout=120,
                                         per_process=per_process, forks=forks)
    assert code == 0 and stdout == ["EXPORT START", "EXPORT END"], stderr
    assert 400 <= peak < 500, peak  # the fork's RssAnon reads 400 MiB too: 800 when it is counted
    assert len(per_process) == 1, per_process
    assert len(forks) == 1 and 400 <= list(forks.values())[0] < 500, forks  # recorded as left out
