"""Exports to SavedModel, TFLite and ONNX, each run in its own runtime and compared with Keras."""

import collections
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_senet as ks
from export_models import FAMILIES, small_model
from images import normal_images, smooth_images
from keras_senet.export import ExportError, export, load_exported
from keras_senet.layers import GlobalContext, SelectiveKernel, SplitAttention
from randomise import calibrate_batchnorm, randomise_weights
from timm_reference import timm_eval_pixels

SUFFIX = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx"}


def _entries(folder):
    return sorted(os.listdir(folder))


def _tflite_elementwise_ops(model):
    """The TFLite op counts `model`'s residual additions, activations, attention gates and BatchNorms become:
    ReLU / ReLU6 fuse into the op before them and a BatchNorm into its convolution; hard-swish is the fused
    HARD_SWISH op (never x * relu6(x + 3) / 6 pieces); swish LOGISTIC + MUL; a sigmoid gate LOGISTIC; a
    hard-sigmoid gate a FULLY_CONNECTED with fused RELU6 (+3 folded into its bias) and a MUL by 1/6; each
    attention rescale a MUL (GhostNetV2's DFC gate: a sigmoid LOGISTIC and a Multiply). A BatchNorm after
    anything but a convolution (MixNet's concatenations, GhostNetV3's BN-only branch) is not folded:
    MUL + ADD. An addition of n tensors (GhostNetV3's branches) is n - 1 ADDs. A GlobalContext's attention
    pooling and LayerNorm'd MLP add their own (see below)."""
    counts = collections.Counter({"ADD": 0, "HARD_SWISH": 0, "LOGISTIC": 0, "MUL": 0})
    convolved = {id(layer.output) for layer in model.layers
                 if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))}
    for layer in model.layers:
        activation, gate = layer.get_config().get("activation"), getattr(layer, "gate", None)
        unfolded = isinstance(layer, keras.layers.BatchNormalization) and id(layer.input) not in convolved
        counts["ADD"] += (len(layer.input) - 1 if isinstance(layer, keras.layers.Add) else 0) + unfolded
        counts["HARD_SWISH"] += activation == "hard_silu"
        counts["LOGISTIC"] += (activation in ("silu", "sigmoid")) + (gate == "sigmoid")
        counts["MUL"] += ((activation == "silu") + (gate is not None) + (gate == "hard_sigmoid") + unfolded
                          + isinstance(layer, keras.layers.Multiply))
        if isinstance(layer, SelectiveKernel):  # branches summed for the pooling, then weighted and summed
            counts["ADD"] += 2 * (layer.num_paths - 1)
            counts["MUL"] += layer.num_paths
        if isinstance(layer, SplitAttention):  # the same over the radix splits; radix 1: a sigmoid gate
            counts["ADD"] += 2 * (layer.radix - 1)
            counts["MUL"] += layer.radix
            counts["LOGISTIC"] += layer.radix == 1
        if isinstance(layer, GlobalContext):  # measured on gcresnet33ts (timm's "gca": fuse_add only)
            # conv_attn's bias ADD and the attention-weighted pooling's MUL; each MLP's LayerNorm three ADDs and
            # three MULs; fuse_add one ADD; without fuse_scale the `gate` counted above is never applied
            mlps = layer.fuse_add + layer.fuse_scale
            counts["ADD"] += layer.use_attn + 3 * mlps + layer.fuse_add
            counts["MUL"] += layer.use_attn + 3 * mlps
            if not layer.fuse_scale:
                counts["LOGISTIC"] -= gate == "sigmoid"
                counts["MUL"] -= 1 + (gate == "hard_sigmoid")
    return dict(counts)


def _unfoldable_norms(model):
    """BatchNorms TFLite may leave as MUL + ADD rather than fold: a SelectiveKernel's attention BatchNorm
    follows a FULLY_CONNECTED, and the converter folded it in three of skresnet18's four SK layers (measured)."""
    return sum(isinstance(layer, SelectiveKernel) for layer in model.layers)


# The TFLite export is converted from the SavedModel that the saved_model format writes (the same
# `write_saved_model` trace), so every family's SavedModel is already traced and, through TFLite, verified;
# the saved_model format itself is run on these families: a plain one, one of keras-senet's own layers
# (split attention) and the re-parameterised GhostNetV3 (saved from the merged copy). About 270 s of the
# AVX2 CI machine's test time went to the other 22.
SAVED_MODEL_FAMILIES = ("basic", "split-attention", "ghostnetv3")
FAMILY_FORMATS = [(family, format) for family in sorted(FAMILIES) for format in ("tflite", "onnx")]
FAMILY_FORMATS += [(family, "saved_model") for family in SAVED_MODEL_FAMILIES]


@pytest.mark.parametrize("family, format", FAMILY_FORMATS, ids=[f"{f}-{fmt}" for f, fmt in FAMILY_FORMATS])
def test_every_family_exports_and_matches_keras(family, format, tmp_path):
    """Random weights, BatchNorm statistics calibrated on a batch (default initialisation leaves the deep
    inverted-residual models' output independent of the input), logits compared."""
    # 32 x 32, or 64 x 64 where the network needs more (GhostNetV2's attention pools the last 2 x 2 map)
    size = 32 if ks.zoo.get_entry(FAMILIES[family]).min_input_size <= 32 else 64
    model = randomise_weights(small_model(FAMILIES[family], size=size, classifier_activation=None))
    calibrate_batchnorm(model, normal_images(8, size, seed=3))
    path = tmp_path / f"{family}{SUFFIX[format]}"
    report = export(model, path, format)
    assert report.passed and report.rel_diff <= 1e-4 and report.top1_agreement == 1.0
    assert report.path == str(path) and os.path.exists(path) and _entries(tmp_path) == [path.name]
    # GhostNetV3's branch sums (primary, cheap, strided depthwise) are exported merged; nothing else is
    assert report.merged_branches == sum(layer.name.endswith(("_primary_add", "_cheap_add", "_dw_add"))
                                         for layer in model.layers if isinstance(layer, keras.layers.Add))
    # independent of the report: the file, loaded afresh in its runtime, on other inputs and batch 3
    images = normal_images(3, size, seed=5)
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    assert np.ptp(expected, axis=0).max() > 0.1 * np.abs(expected).max()  # the output depends on the input
    actual = load_exported(path)(images)
    # float32 round-off, measured against the same small model in float64: Keras' own float32 logits are off
    # by up to 1.5e-5 of max |logit| (efficientnet_lite0; fbnetv3_b 0.9e-5), the exports by 0.4-0.9e-5, so
    # export vs Keras reaches 1.5e-5; one BatchNorm epsilon off by 10x (1e-5 -> 1e-4) moves them 1.3-3.8e-4.
    np.testing.assert_allclose(actual, expected, atol=3e-5 * np.abs(expected).max())
    if format == "tflite":
        assert set(report.ops) >= {"CONV_2D", "MEAN" if family != "eca" else "CONV_2D"}
        exported_form = ks.reparameterize(model)[0] if report.merged_branches else model
        expected, slack = _tflite_elementwise_ops(exported_form), _unfoldable_norms(model)
        for op, count in expected.items():
            assert count <= report.ops.get(op, 0) <= count + slack * (op in ("ADD", "MUL")), (op, report.ops)
        assert not {"RELU", "RELU6", "RELU_0_TO_1"} & set(report.ops)  # fused into the op before
        assert not [op for op in report.ops if op.startswith("Flex")]
    if format == "onnx":  # timm's ONNX layout: one HardSwish / HardSigmoid node each, SE gates in NCHW
        import onnx

        ops = collections.Counter(node.op_type for node in onnx.load(str(path)).graph.node)
        hard_swish = sum(layer.get_config().get("activation") == "hard_silu" for layer in model.layers)
        hard_sigmoid = sum(getattr(layer, "gate", None) == "hard_sigmoid" for layer in model.layers)
        relu6 = sum(layer.get_config().get("activation") == "relu6" for layer in model.layers)  # Clip(0, 6)
        assert (ops["HardSwish"], ops["HardSigmoid"], ops["Clip"]) == (hard_swish, hard_sigmoid, relu6)


def test_onnx_has_dynamic_batch_opset_and_passes_checker(tmp_path):
    import onnx
    import onnxruntime

    model = small_model("seresnet18")
    export(model, tmp_path / "m.onnx", "onnx", opset=18)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto)
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {18}
    (node,) = onnxruntime.InferenceSession(str(tmp_path / "m.onnx")).get_inputs()
    assert isinstance(node.shape[0], str) and node.shape[1:] == [32, 32, 3]
    predict = load_exported(tmp_path / "m.onnx")
    for batch in (1, 5):
        assert predict(normal_images(batch, 32)).shape == (batch, 10)


def test_onnx_survives_a_failing_tf2onnx_pass(tmp_path):
    """keras.applications' MobileNetV3 pattern, a bias-free convolution followed by ``x + 3.0``, fails
    tf2onnx's transpose pass (`max(())` on the scalar bias) once catching is off: the export converts again
    with tf2onnx's catching, says so, and the file runs in onnxruntime equal to Keras."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, use_bias=False)(inputs)
    x = keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    with pytest.warns(UserWarning, match=r"max\(\) arg is an empty sequence.*again with tf2onnx's catching"):
        report = export(model, tmp_path / "m.onnx", "onnx")
    assert report.passed
    images = normal_images(3, 16)
    np.testing.assert_allclose(load_exported(tmp_path / "m.onnx")(images), model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_onnx_float16_for_gpu(tmp_path):
    import onnx

    model = small_model("seresnet50")
    report = export(model, tmp_path / "m16.onnx", "onnx", quantize="float16")
    assert report.passed and report.rel_diff <= 1e-2
    proto = onnx.load(str(tmp_path / "m16.onnx"))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O kept
    weights = [t for t in proto.graph.initializer if len(t.dims) == 4]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)


def test_tflite_float16_and_fixed_batch(tmp_path):
    model = small_model("ecaresnet50d")
    report = export(model, tmp_path / "m.tflite", "tflite", quantize="float16", batch_size=2)
    assert report.passed and report.input_shape == (2, 32, 32, 3)
    assert "DEQUANTIZE" in report.ops  # fp16 weights, dequantised for CPU; the GPU delegate runs fp16
    fp32 = export(model, tmp_path / "m32.tflite", "tflite")
    assert report.size_bytes < 0.6 * fp32.size_bytes
    predict = load_exported(tmp_path / "m.tflite")
    assert predict(normal_images(5, 32)).shape == (5, 10)  # batches of 2, the last padded


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_tflite_over_2gib_is_written_with_buffer_offsets(quantize, tmp_path, monkeypatch):
    """A model whose weights pass a FlatBuffer's 2 GiB (regnety_1280, regnety_2560) is converted with its
    buffers after the FlatBuffer; LiteRT runs the fp32 file and it matches Keras. int8: the converter
    calibrates that float form and writes the (4x smaller) quantised model as a plain FlatBuffer. The
    threshold is lowered so that a small real model takes the same path (the converter's switch is the same)."""
    from keras_senet._compat import tflite_flatbuffer
    from keras_senet.export import to_tflite

    monkeypatch.setattr(to_tflite, "BUFFER_OFFSETS_FROM_BYTES", 0)
    model = small_model("seresnet18")
    path = tmp_path / "m.tflite"
    kwargs = {"representative_data": normal_images(8, 32)} if quantize else {}
    report = export(model, path, "tflite", quantize=quantize, **kwargs)
    assert report.passed  # run in LiteRT and compared with Keras inside export
    with open(path, "rb") as f:
        content = f.read()
    buffers = tflite_flatbuffer().convert_bytearray_to_object(content).buffers  # (the reader would inline them)
    outside = [b for b in buffers if b.offset > 1]  # offset/size: the data lies after the FlatBuffer
    if quantize is None:
        assert outside and all(b.data is None and b.offset + b.size <= len(content) for b in outside)
        weights = sum(int(np.prod(w.shape)) for w in model.weights)
        assert sum(b.size for b in outside) >= 0.9 * 4 * weights  # the float32 weights themselves
    else:
        assert not outside and report.ops.get("CONV_2D")  # a plain int8 FlatBuffer
    predict = load_exported(path)
    images = normal_images(3, 32)
    assert np.allclose(predict(images), model.predict(images, verbose=0), atol=0.1 if quantize else 1e-4)


@pytest.mark.parametrize("quantize", [None, "float16"])
def test_onnx_over_2gib_is_written_with_external_data(quantize, tmp_path, monkeypatch):
    """A model whose float32 weights pass protobuf's 2 GiB (regnety_1280, regnety_2560) is written as
    ``m.onnx`` (the graph) and ``m.onnx.data`` (the weights, ONNX's external-data layout); onnxruntime runs
    the pair and it matches Keras. Overwriting it with a small model's single file removes the old data
    file. The threshold is lowered so that a small real model takes the same path (the same writer)."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    from keras_senet.export import to_onnx

    monkeypatch.setattr(to_onnx, "EXTERNAL_DATA_FROM_BYTES", 0)
    model = small_model("seresnet18")
    path, data = tmp_path / "m.onnx", tmp_path / "m.onnx.data"
    report = export(model, path, "onnx", quantize=quantize)
    assert report.passed  # run in onnxruntime and compared with Keras inside export
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]
    assert report.size_bytes == path.stat().st_size + data.stat().st_size
    weight_bytes = sum(int(np.prod(w.shape)) for w in model.weights) * (2 if quantize else 4)
    assert 0.9 * weight_bytes <= data.stat().st_size and path.stat().st_size < 0.05 * weight_bytes
    graph = onnx.load(str(path), load_external_data=False).graph
    assert sum(uses_external_data(i) for i in graph.initializer) >= 20  # every conv's weights
    predict = load_exported(path)
    images = normal_images(3, 32)
    assert np.allclose(predict(images), model.predict(images, verbose=0), atol=2e-2 if quantize else 1e-4)
    monkeypatch.setattr(to_onnx, "EXTERNAL_DATA_FROM_BYTES", 2 ** 31)
    assert export(model, path, "onnx", overwrite=True).passed
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_saved_model_signatures_and_dynamic_batch(tmp_path):
    model = small_model("seresnet18")
    report = export(model, tmp_path / "sm", "saved_model")
    # every weight stored once (Keras' ExportArchive alone stores each twice: keras-team/keras#23553)
    assert report.size_bytes < 1.1 * sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    assert set(loaded.signatures) == {"serve", "serving_default"}
    spec = loaded.signatures["serving_default"].structured_input_signature[1]["image"]
    assert spec.shape.as_list() == [None, 32, 32, 3]
    out = loaded.signatures["serving_default"](image=tf.constant(normal_images(7, 32)))
    assert list(out) == ["output"] and out["output"].shape == (7, 10)


def test_saved_model_preprocessing_signature_matches_timm_transform(tmp_path):
    """uint8 pixels of any size in, probabilities out: the same as timm's eval transform (PIL resize of
    the shorter side to size/crop_pct, centre crop, normalise) followed by the Keras model."""
    model = small_model("seresnet50", size=64, classifier_activation=None)
    report = export(model, tmp_path / "sm", "saved_model", include_preprocessing="seresnet50.a1_in1k")
    assert report.passed
    config = ks.weights.pretrained.get_pretrained("seresnet50", "a1_in1k")
    pixels = smooth_images(3, 90, 120)
    reference = ((timm_eval_pixels(config, pixels, input_size=64) / 255.0 - np.array(config.mean))
                 / np.array(config.std)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(reference, training=False)))
    predict = load_exported(tmp_path / "sm", endpoint="serving_default")
    actual = predict(pixels)
    assert actual.shape == (3, 10)
    np.testing.assert_allclose(actual.sum(-1), 1.0, rtol=1e-5)  # probabilities
    np.testing.assert_allclose(actual, expected, atol=2e-3)
    # the float endpoint takes [0, 255] pixels at the exported size and normalises inside
    normalised = ks.preprocess_input(pixels[:, :64, :64].astype("float32"), model="seresnet50.a1_in1k")
    np.testing.assert_allclose(load_exported(tmp_path / "sm")(pixels[:, :64, :64].astype("float32")),
                               keras.ops.convert_to_numpy(model(normalised, training=False)), atol=1e-4)


# --- bad input: a clear error before any work, nothing left behind -------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(format="tf"), "format='tf' is not one of saved_model, tflite, onnx"),
    (dict(format="tflite", quantize="int4"), "quantize='int4' is not available for tflite"),
    (dict(format="onnx", quantize="int8"), "quantize='int8' is not available for onnx"),
    (dict(format="tflite", quantize="int8"), "quantize='int8' needs representative_data"),
    (dict(format="tflite", io_type="uint8"), "io_type='uint8' needs quantize='int8'"),
    (dict(format="onnx", opset=7), "opset=7 is not supported"),
    (dict(format="tflite", opset=17), "opset applies to format='onnx' only"),
    (dict(format="onnx", batch_size=0), "batch_size must be None"),
    (dict(format="onnx", input_size=64), "input_size=64 but the model is built for 32x32"),
    (dict(format="saved_model", include_preprocessing=True), "model 'mynet' carries no preprocessing config"),
])
def test_bad_arguments_are_clear_errors(kwargs, message, tmp_path):
    built = small_model("seresnet18")
    model = keras.Model(built.input, built.output, name="mynet")  # a plain model: no preprocessing config
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        export(model, tmp_path / f"out{SUFFIX.get(kwargs['format'], '')}", **kwargs)
    assert _entries(tmp_path) == []


def _tiny_onnx():
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "tiny",
                              [value("x", TensorProto.FLOAT, [1])], [value("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph).SerializeToString()


def test_existing_path_is_refused_unless_overwrite(tmp_path):
    model = small_model("seresnet18")
    target = tmp_path / "m.onnx"
    target.write_bytes(_tiny_onnx())  # an earlier export, as far as overwrite is concerned
    first = target.read_bytes()
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        export(model, target, "onnx")
    assert target.read_bytes() == first
    export(model, target, "onnx", overwrite=True)
    assert target.stat().st_size > 1000 and _entries(tmp_path) == ["m.onnx"]


def test_overwrite_replaces_only_an_export_of_the_same_format(tmp_path):
    """overwrite=True once deleted a folder of notes and sources: only an earlier export of the same
    format is replaced; anything else is refused and left as it was."""
    model = small_model("seresnet18")
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "notes.txt").write_text("keep me")
    (project / "src" / "train.py").write_text("print()")
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"keep me too")
    onnx_named_tflite = tmp_path / "other.onnx"
    for path, format in ((project, "saved_model"), (tflite, "tflite"), (onnx_named_tflite, "onnx")):
        if format == "onnx":
            onnx_named_tflite.write_bytes(b"\x1c\0\0\0TFL3" + bytes(64))  # a TFLite FlatBuffer's header
        with pytest.raises(FileExistsError, match=f"{path} exists and is not a {format} export"):
            export(model, path, format, overwrite=True)
    assert sorted(p.name for p in project.rglob("*")) == ["notes.txt", "src", "train.py"]
    assert tflite.read_bytes() == b"keep me too"
    saved = tmp_path / "saved"
    export(model, saved, "saved_model", verify=False)
    (saved / "README.txt").write_text("mine")  # an export a user added a file to is theirs now
    with pytest.raises(FileExistsError, match="is not a saved_model export"):
        export(model, saved, "saved_model", overwrite=True)
    (saved / "README.txt").unlink()
    export(model, saved, "saved_model", overwrite=True, verify=False)
    assert (saved / "saved_model.pb").exists()
    assert not [name for name in _entries(tmp_path) if name.startswith(".")]


def test_unwritable_destination(tmp_path):
    model = small_model("seresnet18")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export(model, tmp_path / "missing" / "m.onnx", "onnx")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export(model, blocker / "m.onnx", "onnx")
    readonly = "/proc/keras_senet_export_test.onnx"  # writable by nobody, root included
    with pytest.raises(PermissionError, match="cannot write to /proc"):
        export(model, readonly, "onnx")
    assert _entries(tmp_path) == ["file"]


@keras.saving.register_keras_serializable("tests")
class NumpyGate(keras.layers.Layer):
    """A custom layer that calls back into Python/NumPy: no converter can export it."""

    def call(self, x):
        gate = tf.numpy_function(lambda v: (v > 0).astype("float32"), [x], tf.float32)
        return x * tf.reshape(gate, tf.shape(x))


@pytest.mark.parametrize("format", ["tflite", "onnx"])
def test_non_exportable_custom_layer(format, tmp_path):
    image = keras.Input((32, 32, 3))
    features = ks.create_model("seresnet18", include_top=False, pooling="avg", input_shape=(32, 32, 3))
    model = keras.Model(image, keras.layers.Dense(3)(NumpyGate()(features(image))))
    with pytest.raises(ExportError, match=f"could not convert .* to {format}"):
        export(model, tmp_path / f"m{SUFFIX[format]}", format)
    assert _entries(tmp_path) == []


def test_failed_verification_leaves_nothing(tmp_path):
    """An export outside tolerance (here: an impossible tolerance) fails with the report, no file."""
    model = small_model("seresnet18")
    with pytest.raises(ExportError, match="failed verification: relative difference") as caught:
        export(model, tmp_path / "m.tflite", "tflite", quantize="float16", tolerances={"rel_diff": 0.0})
    assert caught.value.report.max_abs_diff > 0 and "FAILED" in caught.value.report.table()
    assert _entries(tmp_path) == []


# SE with ReLU + sigmoid (ResNets), SiLU inside (EfficientNet), ReLU + hard-sigmoid (LCNet, MobileNetV3 head).
@pytest.mark.parametrize("registry_name", ["seresnet50", "legacy_seresnet18", "efficientnet_b0", "lcnet_050"])
def test_onnx_se_gates_are_1x1_convs_in_nchw(registry_name, tmp_path):
    """The SE gate is computed on (N, C, 1, 1) with 1x1 Convs and applied in NCHW, as in timm's own
    ONNX: no feature-map transposes, no vector reshapes; exact against Keras (biases included)."""
    import collections

    import onnx

    model = small_model(registry_name, size=64)  # (at 32x32 the last stage is 1x1: tf2onnx lays it out otherwise)
    randomise_weights(model)
    report = export(model, tmp_path / "m.onnx", "onnx")
    assert report.passed and report.rel_diff <= 1e-4
    ops = collections.Counter(n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node)
    assert ops["Transpose"] == 1  # the NHWC input only
    dense = sum(isinstance(layer, keras.layers.Dense) for layer in model.layers)  # the head (SE Dense are inside)
    assert ops["MatMul"] == dense and ops["Unsqueeze"] == 0  # SE fc1/fc2 are Convs
