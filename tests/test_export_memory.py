"""Exporting a large model stays within its memory bound (issue 17): ONNX export, the costly one, in a fresh
process as `python -m benchmarks.export_memory` measures it (peak anonymous resident memory over the
built model, in units of the model's weight bytes)."""

from benchmarks.export_memory import run_cell

# tf2onnx's own copies cut (keras_senet._compat.lean_tf2onnx): SE-ResNet-50 measured +21x at 224x224 and at
# 64x64 (TensorFlow's freezing and Grappler on the frozen graph remain); +88x before the cut.
ONNX_EXTRA_LIMIT = 25


def test_large_model_onnx_export_stays_under_its_memory_bound():
    entry = run_cell("seresnet50", "onnx", 64, timeout=900)
    assert "error" not in entry, entry
    assert entry["passed"] and entry["rel_diff"] <= 1e-4
    assert entry["weights_mib"] > 100  # large enough that its copies, not TensorFlow's runtime, dominate
    assert entry["extra"] <= ONNX_EXTRA_LIMIT, entry
