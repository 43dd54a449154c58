"""TFLite accelerator profiles (issue 14): the rewritten graph equals the unmodified Keras model in LiteRT,
the accelerator's tools and op tables accept it, int8 reports its per-layer error and accuracy change."""

import os
import re

import keras
import numpy as np
import pytest

from export_models import small_model
from keras_senet import _compat
from keras_senet.export import export, load_exported
from keras_senet.export import edge
from keras_senet.layers import SqueezeExcite
from keras_senet.layers import _common
from processes import run_script
from randomise import randomise_weights

pytestmark = pytest.mark.xdist_group("export_edge")
SIZE = 32
RUNNERS = os.path.join(os.path.dirname(__file__), "..", "export")

# one registered architecture per family (tests/export_models.FAMILIES: one block per stage or block string)
GPU_FAMILIES = {
    "resnet-se": "seresnet18",
    "eca": "ecaresnet50d",
    "legacy": "legacy_seresnet18",
    "mobilenetv3": "mobilenetv3_large_100",  # hard-swish, hard-sigmoid SE gates
    "efficientnet": "efficientnet_b0",
    "mixnet": "tf_mixnet_s",
    "lcnet": "lcnet_050",
}


def _logits_model(name, size=SIZE):
    """Random non-default weights and logits out: a softmax over random weights is ~uniform and would
    hide a difference."""
    return randomise_weights(small_model(name, size=size, classifier_activation=None))


def _images(n=8, size=SIZE, seed=0):
    return np.random.default_rng(seed).standard_normal((n, size, size, 3)).astype("float32")


@pytest.mark.parametrize("family", list(GPU_FAMILIES))
def test_gpu_profile_is_rewritten_equal_to_keras_and_passes_the_analyzer(family, tmp_path):
    model = _logits_model(GPU_FAMILIES[family])
    report = export(model, tmp_path / "m.tflite", "tflite", target="gpu")
    assert report.passed and report.input_shape == (1, SIZE, SIZE, 3)
    assert report.compatibility["gpu analyzer"].startswith("ok")
    assert report.compatibility["gpu delegate run"].startswith("not checked")
    # the rewrite happened: no MEAN (squeeze and head are AVERAGE_POOL_2D), no RELU_0_TO_1
    assert "MEAN" not in report.ops and report.ops["AVERAGE_POOL_2D"] >= 1 and "RELU_0_TO_1" not in report.ops
    # numerically the unmodified Keras model, checked here independently of the export's own verification
    x = _images()
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    actual = load_exported(tmp_path / "m.tflite")(x)
    assert np.abs(actual - expected).max() <= 1e-4 * np.abs(expected).max()


def test_export_forms_compute_the_same_numbers():
    """The pooled squeeze and the relu6 hard-sigmoid, traced inside `export_form`, are the layer's own numbers."""
    layer = SqueezeExcite(gate="hard_sigmoid", squeeze="avgmax")
    x = np.random.default_rng(1).standard_normal((2, 5, 7, 16)).astype("float32")
    layer.build(x.shape)
    randomise_weights(layer)
    plain = keras.ops.convert_to_numpy(layer(x))
    with _common.export_form("pool_squeeze", "relu6_hard_sigmoid"):
        rewritten = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(rewritten, plain, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="export form='bogus' is not one of"):
        with _common.export_form("bogus"):
            pass


def test_edgetpu_int8_has_no_hard_swish_and_says_the_compiler_was_not_checked(tmp_path):
    model = _logits_model("lcnet_050")  # hard-swish activations
    report = export(model, tmp_path / "m.tflite", "tflite", target="edgetpu", quantize="int8",
                    representative_data=_images(32), tolerances={"top1_agreement": 0.5})
    assert report.passed and report.io_type == "int8" and report.input_shape[0] == 1
    assert "HARD_SWISH" not in report.ops and "MEAN" not in report.ops and report.non_int8_ops == {}
    assert report.compatibility["edgetpu op table"].startswith("ok")
    assert report.compatibility["edgetpu int8 tensors"].startswith("ok")
    assert report.compatibility["edgetpu compiler"].startswith("not checked")
    # the default profile keeps the HARD_SWISH op, which the Edge TPU table does not list: the check can fail
    export(model, tmp_path / "cpu.tflite", "tflite", quantize="int8", representative_data=_images(32), verify=False)
    failing = type(report)(path="", format="tflite")
    edge.TARGETS["edgetpu"].check(tmp_path / "cpu.tflite", failing)
    assert failing.compatibility["edgetpu op table"] == ("FAILED: not in the Coral Edge TPU supported-op table: "
                                                         "HARD_SWISH")


def test_nnapi_int8_mean_check(tmp_path):
    """The default int8 export's MEAN requantises (NNAPI runs it on the CPU); the nnapi profile has none."""
    model = _logits_model("seresnet18")
    data = _images(32)
    export(model, tmp_path / "cpu.tflite", "tflite", quantize="int8", representative_data=data, verify=False)
    plain = type(export(model, tmp_path / "nnapi.tflite", "tflite", target="nnapi", quantize="int8",
                        representative_data=data))(path="", format="tflite")
    edge.TARGETS["nnapi"].check(tmp_path / "cpu.tflite", plain)
    assert plain.compatibility["nnapi int8 MEAN"].startswith("FAILED")
    checked = type(plain)(path="", format="tflite")
    edge.TARGETS["nnapi"].check(tmp_path / "nnapi.tflite", checked)
    assert checked.compatibility["nnapi int8 MEAN"].startswith("ok")
    assert checked.compatibility["nnapi op table"].startswith("ok")
    assert checked.compatibility["nnapi device run"].startswith("not checked")


def test_int8_report_selective_quantisation_and_accuracy_change(tmp_path):
    model = _logits_model("lcnet_050")
    data = _images(32)
    labels = np.random.default_rng(2).integers(0, 10, 32)
    report = export(model, tmp_path / "m.tflite", "tflite", quantize="int8", representative_data=data,
                    quantization_report=True, keep_float=["HARD_SWISH", "conv_head"],
                    evaluation_data=(data, labels), tolerances={"top1_agreement": 0.5})
    layers = report.quantization_layers
    assert layers and all(np.isfinite(layer["rmse"]) and layer["scale"] > 0 for layer in layers)
    assert [layer["rmse/scale"] for layer in layers] == sorted((layer["rmse/scale"] for layer in layers), reverse=True)
    table = report.table()
    assert "int8 error per layer" in table and "held-out accuracy" in table
    # selective quantisation: the ops asked for stay float, the interface is float32
    assert report.io_type == "float32" and report.non_int8_ops.get("HARD_SWISH") == report.ops["HARD_SWISH"]
    # the accuracy figures, recomputed from the Keras model and the file
    keras_top1 = np.mean(keras.ops.convert_to_numpy(model(data, training=False)).argmax(-1) == labels)
    export_scores = load_exported(tmp_path / "m.tflite")(data)
    assert report.accuracy["keras_top1"] == pytest.approx(keras_top1)
    assert report.accuracy["export_top1"] == pytest.approx(np.mean(export_scores.argmax(-1) == labels))
    assert report.accuracy["change"] == pytest.approx(100 * (report.accuracy["export_top1"] - keras_top1))


def test_int8_dead_se_unit_runs_under_xnnpack(tmp_path):
    """An SE unit that is zero on every calibration image (here: every unit of the first SE, by its bias)
    gets the converter's minimal scale, which needs a requantisation XNNPACK refuses (>= 256): the
    converter's own file fails to prepare in LiteRT. The export widens that range, reports it, and its file
    runs under XNNPACK equal to Keras within the int8 tolerance."""
    from ai_edge_litert.interpreter import Interpreter

    from keras_senet.export.to_tflite import _converter

    model = _logits_model("seresnet18")
    se = model.get_layer("layer1_0_se")
    kernel, bias, *rest = se.get_weights()
    se.set_weights([kernel, np.full_like(bias, -1e3), *rest])  # ReLU(fc1) is 0 for any input
    data = _images(16)
    report = export(model, tmp_path / "m.tflite", "tflite", quantize="int8", representative_data=data)
    assert report.passed, report.failures
    assert [entry["op"] for entry in report.widened_ranges] == ["FULLY_CONNECTED"]
    assert "layer1_0_se" in report.widened_ranges[0]["tensor"] and "widened int8 ranges" in report.table()
    # every conv / fully connected layer of the file: requantisation scale inside XNNPACK's [2^-32, 256)
    interpreter = Interpreter(model_path=str(tmp_path / "m.tflite"))
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    scales = lambda index: details[index]["quantization_parameters"]["scales"]
    for op in _compat.tflite_ops(interpreter):
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            requantization = scales(op["inputs"][0])[0] * scales(op["inputs"][1]) / scales(op["outputs"][0])[0]
            assert requantization.max() < 256, op
    # the converter's file as it comes: LiteRT's default XNNPACK delegate cannot prepare it
    export(model, tmp_path / "sm", "saved_model", verify=False)
    raw = tmp_path / "raw.tflite"
    raw.write_bytes(_converter(str(tmp_path / "sm"), "int8", data, "float32").convert())
    with pytest.raises(RuntimeError, match="XNNPACK"):
        Interpreter(model_path=str(raw)).allocate_tensors()


@pytest.mark.parametrize("kwargs, message", [
    (dict(target="tpu"), r"target='tpu' is not one of 'cpu', 'gpu', 'nnapi', 'edgetpu'"),
    (dict(target="gpu", quantize="int8"), r"quantize='int8' is not available for target='gpu'"),
    (dict(target="gpu", batch_size=4), r"batch_size=4: target='gpu' .* needs a static batch of 1"),
    (dict(target="edgetpu", quantize="int8", io_type="float32"), r"io_type='float32' is not available for "
                                                                  r"target='edgetpu'"),
    (dict(keep_float=["conv_head"]), r"keep_float applies to format='tflite' with quantize='int8' only"),
    (dict(quantize="int8", keep_float=["conv_head"], io_type="int8"), r"keep_float=\['conv_head'\] leaves ops in "
                                                                        r"float, which needs io_type='float32'"),
])
def test_bad_profile_arguments_are_refused_before_any_work(kwargs, message, tmp_path):
    model = small_model("seresnet18")
    kwargs.setdefault("representative_data", _images(4) if kwargs.get("quantize") else None)
    with pytest.raises(ValueError, match=message):
        export(model, tmp_path / "m.tflite", "tflite", **kwargs)
    assert os.listdir(tmp_path) == []


def test_profile_needs_a_fixed_input_size(tmp_path):
    import keras_senet as ks

    model = ks.create_model("seresnet18", input_shape=(None, None, 3), classes=10)
    with pytest.raises(ValueError, match=r"target='gpu' needs a fixed input size .* pass input_size"):
        export(model, tmp_path / "m.tflite", "tflite", target="gpu")
    with pytest.raises(ValueError, match=r"target='gpu' applies to format='tflite' only"):
        export(model, tmp_path / "m.onnx", "onnx", target="gpu", input_size=32)


def test_litert_runner_says_when_a_delegate_is_not_on_this_machine(tmp_path):
    export(small_model("seresnet18"), tmp_path / "m.tflite", "tflite", verify=False)
    result = run_script(os.path.join(RUNNERS, "litert_run.py"), str(tmp_path / "m.tflite"), "x.png",
                        "--delegate", "gpu", check=False)
    assert result.returncode == 2
    assert ("--delegate gpu: delegate 'gpu' is not available on this machine: none of its libraries could be "
            "loaded (libtensorflowlite_gpu_delegate.so") in result.stderr
    assert "here use delegate 'xnnpack' (the CPU)" in result.stderr


def test_cli_target_quantization_report_and_eval_data(tmp_path, capsys):
    """`keras-senet export FILE.keras --target nnapi --quantize int8 --quantization-report --eval-data DIR`
    prints the profile's checks, the per-layer int8 error and the held-out accuracy change."""
    import PIL.Image

    from images import smooth_images
    from keras_senet.cli import main

    for label in ("a", "b"):
        folder = tmp_path / "images" / label
        folder.mkdir(parents=True)
        for index, image in enumerate(smooth_images(6, SIZE, SIZE, seed=ord(label))):
            PIL.Image.fromarray(image).save(folder / f"{index}.png")
    randomise_weights(small_model("seresnet18", classes=2)).save(tmp_path / "m.keras")
    status = main(["export", str(tmp_path / "m.keras"), "--format", "tflite", "--target", "nnapi",
                   "--quantize", "int8", "--calibration", str(tmp_path / "images"), "--quantization-report",
                   "--eval-data", str(tmp_path / "images"), "--out", str(tmp_path / "m.tflite")])
    printed = capsys.readouterr().out
    assert status == 0 and (tmp_path / "m.tflite").exists()
    assert re.search(r"nnapi op table\s+ok", printed) and re.search(r"nnapi device run\s+not checked", printed)
    assert "int8 error per layer" in printed and "RMSE/scale" in printed
    assert "held-out accuracy" in printed and "on 12 images" in printed


@pytest.mark.parametrize("target", ["edgetpu", "nnapi"])
def test_ai_edge_quantizer_meets_the_int8_accelerator_profiles(target, tmp_path):
    """The profiles' rewritten graph (pooled squeeze, relu6 hard-sigmoid, no hard-swish for the Edge TPU) quantised
    by ai-edge-quantizer passes the same checks as TensorFlow's int8: the op tables, int8 tensors throughout (Edge
    TPU), no requantising MEAN (NNAPI); what cannot run here stays "not checked"."""
    model = _logits_model("lcnet_050")  # SE with hard-sigmoid gates, hard-swish activations
    report = export(model, tmp_path / "m.tflite", "tflite", target=target, quantize="int8",
                    quantizer="ai-edge-quantizer", representative_data=_images(32), tolerances={"top1_agreement": 0.5})
    assert report.passed and report.quantizer == "ai-edge-quantizer" and report.input_shape[0] == 1
    assert report.non_int8_ops == {} and "MEAN" not in report.ops
    checks = {name: verdict for name, verdict in report.compatibility.items() if name.startswith(target)}
    unchecked = {name for name, verdict in checks.items() if verdict.startswith("not checked")}
    assert unchecked == {"edgetpu": {"edgetpu compiler"}, "nnapi": {"nnapi device run"}}[target]
    assert all(checks[name].startswith("ok") for name in set(checks) - unchecked), checks
