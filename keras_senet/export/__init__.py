"""Export a Keras model to SavedModel, TFLite (LiteRT) or ONNX, verified in the target runtime.

    from keras_senet.export import export, load_exported
    report = export(model, "seresnet50.tflite", "tflite", quantize="int8",
                    representative_data=calibration_images)
    print(report.table())
    predict = load_exported("seresnet50.tflite")      # runs in the LiteRT interpreter
    probabilities = predict(images)

Every export is written to a temporary path, run in its own runtime (TensorFlow for SavedModel, the
``ai_edge_litert`` interpreter for TFLite, onnxruntime for ONNX), compared with the Keras model, and
moved into place only when within tolerance. Exports run on the TensorFlow backend.

The formats are entries of `TARGETS` (`keras_senet.export.targets`). A model with several outputs (a
dict of feature maps) exports to every format; `load_exported` then returns ``{name: array}``.
"""

from keras_senet.export.api import FORMATS, IO_TYPES, QUANTIZE, ExportError, export
from keras_senet.export.report import TOLERANCES, ExportReport
from keras_senet.export.targets import load_exported
from keras_senet.export.targets import TARGETS, ExportTarget

__all__ = ["export", "load_exported", "ExportReport", "ExportError", "FORMATS", "QUANTIZE", "IO_TYPES",
           "TOLERANCES", "TARGETS", "ExportTarget"]
