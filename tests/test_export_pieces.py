"""A model converted to TFLite in pieces (issue 17): cut at tensors every path goes through, each piece
converted in its own process, the files joined into one. The joined file must be the whole conversion: the
same ops, the same outputs in LiteRT; the pieces run one after the other must be the Keras model."""

import os
import re

import keras
import numpy as np
import pytest

from export_models import FAMILIES, small_model
from images import normal_images
from keras_senet.export import load_exported, pieces
from keras_senet.export.from_source import export_from_source
from keras_senet.export.tflite_merge import merge_tflite
from keras_senet.export.to_tflite import op_census
from low_memory_exports import SIZE, image_folder, saved_seresnet
from randomise import randomise_weights

pytestmark = pytest.mark.xdist_group("export_pieces")  # (its module fixtures export once, on one worker)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small SE-ResNet (random weights, logits out) saved as ``.keras``, and the model itself."""
    return saved_seresnet(tmp_path_factory.mktemp("pieces"))


@pytest.fixture(scope="module")
def whole_and_pieces(saved, tmp_path_factory):
    """The model exported by the low-memory path whole (``pieces=1``), and in three pieces through the
    command line (``--low-memory --pieces 3``), with what the command printed."""
    import contextlib
    import io

    from keras_senet.cli import main

    folder = tmp_path_factory.mktemp("exports")
    whole = export_from_source(saved[0], folder / "m1.tflite", "tflite", weights=None, low_memory=True, pieces=1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["export", saved[0], "--weights", "none", "--format", "tflite", "--low-memory", "--pieces",
                       "3", "--out", str(folder / "m3.tflite")])
    return folder, whole, status, printed.getvalue()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_pieces_run_one_after_the_other_are_the_model(family):
    """Every family (one model per architectural feature) cuts into three pieces whose weights are the
    model's, each once, and whose chained Keras outputs equal the model's."""
    import keras_senet as ks

    size = 32 if ks.zoo.get_entry(FAMILIES[family]).min_input_size <= 32 else 64  # (GhostNetV2: 64, as in test_export)
    model = randomise_weights(small_model(FAMILIES[family], size=size, classes=4, classifier_activation=None))
    parts = pieces.split(model, 3)
    assert len(parts) == 3
    held = [id(w) for part in parts for w in part.weights]
    assert sorted(held) == sorted(id(w) for w in model.weights)  # shared, not copied, none twice
    images = normal_images(2, size, seed=5)
    chained = images
    for part in parts:
        chained = part(chained, training=False)
    np.testing.assert_array_equal(np.asarray(chained), np.asarray(model(images, training=False)))


def test_a_feature_pyramid_is_cut_before_its_first_output_and_exports_in_pieces(tmp_path):
    """A multi-output model (``features_only``: P4 and P5): cut only before P4, the last piece gives both levels
    under their names; cutting the same model again works (a sub-model adds calls to the model's layers), and
    the low-memory ONNX export in two pieces verifies every output."""
    import keras

    import keras_senet as ks

    model = randomise_weights(ks.create_model("seresnet18", weights=None, features_only=True, out_indices=(3, 4),
                                              input_shape=(64, 64, 3)))
    first, last = pieces.split(model, 2)
    again = pieces.split(model, 2)
    assert isinstance(last.output, dict) and sorted(last.output) == ["P4", "P5"] and len(again) == 2
    images = normal_images(2, 64, seed=4)
    expected, chained = model(images, training=False), last(first(images, training=False), training=False)
    for level in ("P4", "P5"):
        np.testing.assert_array_equal(np.asarray(chained[level]), np.asarray(expected[level]))
    path = tmp_path / "m.keras"
    model.save(path)
    report = export_from_source(str(path), tmp_path / "m.onnx", "onnx", weights=None, low_memory=True, pieces=2)
    assert report.passed and report.pieces == 2 and sorted(report.outputs) == ["P4", "P5"]
    shared = keras.layers.Dense(4, name="shared")
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="shared is called more than once"):
        pieces.cuts(keras.Model(inputs, shared(keras.layers.ReLU()(shared(inputs)))))


def test_the_joined_file_is_the_whole_conversion(saved, whole_and_pieces):
    folder, whole, status, printed = whole_and_pieces
    assert whole.pieces == 1 and "pieces" not in whole.table()
    assert status == 0 and re.search(r"converted in\s+3 pieces", printed) and re.search(r"result\s+PASSED", printed)
    assert op_census(folder / "m3.tflite") == op_census(folder / "m1.tflite")
    assert sorted(os.listdir(folder)) == ["m1.tflite", "m3.tflite"]  # no piece or temporary left
    images = normal_images(5, SIZE, seed=11)  # not the verification inputs
    np.testing.assert_allclose(load_exported(str(folder / "m3.tflite"))(images),
                               load_exported(str(folder / "m1.tflite"))(images), rtol=0, atol=1e-6)
    expected = saved[1].predict_on_batch(images)
    assert np.abs(load_exported(str(folder / "m3.tflite"))(images) - expected).max() <= 1e-4 * np.abs(expected).max()


def test_a_join_over_2_gib_layout_runs_the_same(saved, tmp_path):
    """The layout a joined model over 2 GiB is written in (buffers after the FlatBuffer at 64-bit offsets),
    forced on small pieces: LiteRT reads it, the outputs are the inline join's, bit for bit."""
    from ai_edge_litert import schema_py_generated as schema

    from keras_senet.export.to_saved_model import write_saved_model
    from keras_senet.export.to_tflite import write_tflite

    model = saved[1]
    shape, paths = (SIZE, SIZE, 3), []
    for index, part in enumerate(pieces.split(model, 2)):
        write_saved_model(part, str(tmp_path / f"s{index}"), tuple(part.input.shape[1:]) if index else shape, None,
                          None, pixel_endpoint=False)
        paths.append(str(tmp_path / f"p{index}.tflite"))
        write_tflite(str(tmp_path / f"s{index}"), paths[-1], None, None, "float32")
    merge_tflite(paths, tmp_path / "inline.tflite", buffer_offsets=False)
    merge_tflite(paths, tmp_path / "offsets.tflite", buffer_offsets=True)
    data = (tmp_path / "offsets.tflite").read_bytes()
    stored = schema.Model.GetRootAs(data, 0)
    offsets = [stored.Buffers(i).Offset() for i in range(stored.BuffersLength())]
    assert sum(offset > 1 for offset in offsets) >= 10 and all(o % 16 == 0 for o in offsets if o > 1)
    images = normal_images(3, SIZE, seed=2)
    np.testing.assert_array_equal(load_exported(str(tmp_path / "offsets.tflite"))(images),
                                  load_exported(str(tmp_path / "inline.tflite"))(images))
    with pytest.raises(ValueError, match="not consecutive pieces"):
        merge_tflite(paths[::-1], tmp_path / "wrong.tflite")
    assert not (tmp_path / "wrong.tflite").exists()


def test_tensorflow_int8_in_pieces_is_as_close_to_keras_as_the_whole(saved, tmp_path):
    """TensorFlow's int8 in three pieces, each calibrated on the Keras outputs of the pieces before it: every op
    int8, a QUANTIZE at most at each join (the two sides' scales differ slightly), and an error against Keras
    within 1.25x of the whole model's int8 on other images."""
    path, model = saved
    images = image_folder(tmp_path / "images", 8)
    options = dict(weights=None, low_memory=True, quantize="int8", calibration=str(images),
                   tolerances={"top1_agreement": 0.9})
    whole = export_from_source(path, tmp_path / "m1.tflite", "tflite", pieces=1, **options)
    joined = export_from_source(path, tmp_path / "m3.tflite", "tflite", pieces=3, **options)
    assert whole.passed and joined.passed and joined.pieces == 3 and joined.non_int8_ops == {}
    extra = dict(joined.ops)
    assert extra.pop("QUANTIZE", 0) <= 2 and extra == whole.ops
    test = normal_images(16, SIZE, seed=7)
    expected = model.predict_on_batch(test)

    def rel_rms(file):
        difference = load_exported(str(tmp_path / file))(test) - expected
        return np.sqrt(np.mean(difference ** 2)) / np.sqrt(np.mean(expected ** 2))

    assert rel_rms("m3.tflite") <= 1.25 * rel_rms("m1.tflite")


def test_ai_edge_int8_quantises_the_joined_file(saved, tmp_path):
    """``pieces=2, quantize="int8", quantizer="ai-edge-quantizer"``: fp32 in two pieces, joined, quantised to
    int8 as one file (calibrated on an image folder), verified against Keras."""
    images = image_folder(tmp_path / "images", 8)
    out = tmp_path / "m.tflite"
    report = export_from_source(saved[0], out, "tflite", weights=None, low_memory=True, pieces=2, quantize="int8",
                                quantizer="ai-edge-quantizer", calibration=str(images),
                                tolerances={"top1_agreement": 0.9})
    assert report.passed and report.pieces == 2 and report.quantizer == "ai-edge-quantizer"
    assert report.non_int8_ops == {} and load_exported(str(out)).input_dtype == np.int8


def test_onnx_in_pieces_is_the_whole_conversion(saved, tmp_path):
    """``format="onnx", low_memory=True, pieces=3``: each piece converted by tf2onnx in its own process, the
    graphs joined; the file gives the whole model's in-process ONNX export's outputs, and the model's."""
    from keras_senet.export import export

    path, model = saved
    folder = tmp_path / "exports"
    folder.mkdir()
    joined = export_from_source(path, folder / "m3.onnx", "onnx", weights=None, low_memory=True, pieces=3)
    whole = export(model, folder / "m1.onnx", "onnx")
    assert joined.passed and joined.pieces == 3 and joined.rel_diff <= 1e-4 and whole.passed
    assert sorted(os.listdir(folder)) == ["m1.onnx", "m3.onnx"]  # no piece, weight file or temporary left
    images = normal_images(5, SIZE, seed=11)
    np.testing.assert_allclose(load_exported(str(folder / "m3.onnx"))(images),
                               load_exported(str(folder / "m1.onnx"))(images), rtol=0, atol=1e-5)


def test_an_onnx_join_with_external_weights_runs_the_same(saved, tmp_path):
    """The layout a joined ONNX model over 2 GiB is written in (``m.onnx`` + one ``m.onnx.data``, the pieces'
    weight files concatenated), forced on small pieces: onnxruntime gives the inline join's outputs exactly."""
    from keras_senet.export.onnx_merge import merge_onnx
    from keras_senet.export.serving import serving_model
    from keras_senet.export.to_onnx import write_onnx

    model, shape, paths = saved[1], (SIZE, SIZE, 3), []
    for index, part in enumerate(pieces.split(model, 2)):
        paths.append(str(tmp_path / f"piece{index}.onnx"))
        write_onnx(serving_model(part, shape, None), paths[-1], shape, None, 17, None, external_data=True)
        shape = tuple(part.output.shape[1:])
    merge_onnx(paths, tmp_path / "inline.onnx", external_data=False)
    merge_onnx(paths, tmp_path / "outside.onnx", external_data=True)
    assert os.path.getsize(tmp_path / "outside.onnx") < 200_000 < os.path.getsize(tmp_path / "outside.onnx.data")
    images = normal_images(3, SIZE, seed=2)
    np.testing.assert_array_equal(load_exported(str(tmp_path / "outside.onnx"))(images),
                                  load_exported(str(tmp_path / "inline.onnx"))(images))
    with pytest.raises(ValueError, match="not consecutive pieces"):
        merge_onnx(paths[::-1], tmp_path / "wrong.onnx", external_data=False)
    assert not (tmp_path / "wrong.onnx").exists()


@pytest.mark.parametrize("options, message", [
    ({"pieces": 0}, "pieces=0: give a positive whole number"),
    ({"pieces": "2"}, "pieces='2': give a positive whole number"),
    ({"pieces": 2, "low_memory": False}, "needs low_memory=True"),
])
def test_pieces_it_cannot_take_are_refused_before_any_work(saved, tmp_path, options, message):
    options = dict({"low_memory": True}, **options)
    folder = tmp_path / "exports"  # (tmp_path also holds the tests' KERAS_HOME)
    folder.mkdir()
    with pytest.raises(ValueError, match=message):
        export_from_source(saved[0], folder / "m.tflite", "tflite", weights=None, **options)
    assert os.listdir(folder) == []


def test_more_pieces_than_cuts_is_refused_and_writes_nothing(saved, tmp_path):
    available = len(pieces.cuts(saved[1]))
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(ValueError, match=f"at most {available + 1} pieces"):
        export_from_source(saved[0], folder / "m.tflite", "tflite", weights=None, low_memory=True,
                           pieces=available + 2)
    assert os.listdir(folder) == []


def test_automatic_pieces_follow_the_weight_bytes(saved, monkeypatch):
    """Without `pieces`, the low-memory export cuts one piece per `PIECE_BYTES` of weights; TensorFlow's int8
    at least `INT8_MIN_PIECES` from `INT8_PIECES_FROM` of weights; never more than the model's cuts allow."""
    model = saved[1]
    total = sum(np.asarray(w.numpy()).nbytes for w in model.weights)
    assert pieces.automatic_pieces(model) == 1 and pieces.automatic_pieces(model, calibrated_int8=True) == 1
    monkeypatch.setattr(pieces, "PIECE_BYTES", total // 2 + 1)
    assert pieces.automatic_pieces(model) == 2 and pieces.automatic_pieces(model, calibrated_int8=True) == 2
    monkeypatch.setattr(pieces, "INT8_PIECES_FROM", total)
    assert pieces.automatic_pieces(model) == 2 and pieces.automatic_pieces(model, calibrated_int8=True) == 3
    monkeypatch.setattr(pieces, "PIECE_BYTES", total // 4 + 1)
    assert pieces.automatic_pieces(model, calibrated_int8=True) == 4
    monkeypatch.setattr(pieces, "PIECE_BYTES", 1)
    assert pieces.automatic_pieces(model) == len(pieces.cuts(model)) + 1


def test_a_model_that_cannot_be_cut_stays_whole_unless_its_size_needs_pieces(monkeypatch):
    """TensorFlow's int8 asks a model of `INT8_PIECES_FROM` for 3 pieces; one with a shared layer cannot be cut,
    and is converted whole, as before. Over `PIECE_BYTES` the cut's own error stands."""
    shared = keras.layers.Dense(4, name="shared")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, shared(keras.layers.ReLU()(shared(inputs))))
    monkeypatch.setattr(pieces, "INT8_PIECES_FROM", 1)
    assert pieces.automatic_pieces(model, calibrated_int8=True) == 1
    monkeypatch.setattr(pieces, "PIECE_BYTES", 16)
    with pytest.raises(ValueError, match="shared is called more than once"):
        pieces.automatic_pieces(model, calibrated_int8=True)
