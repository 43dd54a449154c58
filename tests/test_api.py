"""The public API around the models: registry data, keras.applications functions and their argument
checks, preprocessing and label decoding, model_info, and the command line."""

import inspect
import json

import keras
import numpy as np
import pytest
import timm

import keras_senet as ks
from keras_senet import zoo
from keras_senet.applications import APPLICATIONS
from processes import run_cli, run_python
from timm_reference import timm_macs, timm_param_counts

SMALL = (64, 64, 3)


# --- registry data --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ks.list_models())
def test_registry_config_matches_timm_default(name):
    """Default input size, interpolation, crop and normalisation are timm's default pretrained config."""
    entry = zoo.get_entry(name).preprocessing
    cfg = timm.models.get_pretrained_cfg(name)
    assert cfg is not None, f"timm has no model {name}"
    assert (3, entry.input_size, entry.input_size) == tuple(cfg.input_size)
    assert entry.interpolation == cfg.interpolation
    assert entry.crop_pct == pytest.approx(cfg.crop_pct)
    assert entry.mean == pytest.approx(cfg.mean) and entry.std == pytest.approx(cfg.std)


def test_registry_holds_every_required_name():
    required = """legacy_seresnet18 legacy_seresnet34 legacy_seresnet50 legacy_seresnet101 legacy_seresnet152
    legacy_seresnext26_32x4d legacy_seresnext50_32x4d legacy_seresnext101_32x4d legacy_senet154 seresnet18
    seresnet34 seresnet50 seresnet50t seresnet101 seresnet152 seresnet152d seresnet200d seresnet269d
    seresnetaa50d seresnext26d_32x4d seresnext26t_32x4d seresnext50_32x4d seresnext101_32x4d
    seresnext101_32x8d seresnext101d_32x8d seresnext101_64x4d seresnextaa101d_32x8d seresnextaa201d_32x8d
    senet154 ecaresnet26t ecaresnet50d ecaresnet50t ecaresnet101d ecaresnet200d ecaresnet269d ecaresnetlight
    ecaresnext26t_32x4d ecaresnext50t_32x4d ecaresnet50d_pruned ecaresnet101d_pruned resnet50 resnext50_32x4d
    mobilenetv3_large_100 mobilenetv3_large_150d mobilenetv3_rw mobilenetv3_small_050 mobilenetv3_small_075
    mobilenetv3_small_100 tf_mobilenetv3_large_075 tf_mobilenetv3_large_100 tf_mobilenetv3_large_minimal_100
    tf_mobilenetv3_small_075 tf_mobilenetv3_small_100 tf_mobilenetv3_small_minimal_100
    efficientnet_b0 efficientnet_b1 efficientnet_b2 efficientnet_b3 efficientnet_b4 efficientnet_b5
    efficientnet_es efficientnet_em efficientnet_el efficientnet_lite0 tf_efficientnet_b0 tf_efficientnet_b1
    tf_efficientnet_b2 tf_efficientnet_b3 tf_efficientnet_b4 tf_efficientnet_b5 tf_efficientnet_b6
    tf_efficientnet_b7 tf_efficientnet_b8 tf_efficientnet_es tf_efficientnet_em tf_efficientnet_el
    tf_efficientnet_lite0 tf_efficientnet_lite1 tf_efficientnet_lite2 tf_efficientnet_lite3
    tf_efficientnet_lite4 mnasnet_100 mnasnet_small semnasnet_075 semnasnet_100 lcnet_050 lcnet_075
    lcnet_100 fbnetv3_b fbnetv3_d fbnetv3_g tinynet_a tinynet_b tinynet_c tinynet_d tinynet_e
    hardcorenas_a hardcorenas_b hardcorenas_c hardcorenas_d hardcorenas_e hardcorenas_f
    mixnet_s mixnet_m mixnet_l mixnet_xl tf_mixnet_s tf_mixnet_m tf_mixnet_l
    regnety_002 regnety_004 regnety_006 regnety_008 regnety_008_tv regnety_016 regnety_032 regnety_040
    regnety_064 regnety_080 regnety_080_tv regnety_120 regnety_160 regnety_320 regnety_640 regnety_1280 regnety_2560
    rexnet_100 rexnet_130 rexnet_150 rexnet_200 rexnet_300 rexnetr_200 rexnetr_300
    ghostnet_100 ghostnetv2_100 ghostnetv2_130 ghostnetv2_160 ghostnetv3_100
    skresnet18 skresnet34 skresnext50_32x4d resnest14d resnest26d resnest50d resnest101e resnest200e resnest269e
    resnest50d_1s4x24d resnest50d_4s2x40d
    seresnext26ts eca_resnext26ts gcresnext26ts seresnet33ts eca_resnet33ts gcresnet33ts gcresnet50t
    gcresnext50ts""".split()
    assert sorted(required) == ks.list_models()


def test_list_models_pattern_and_pretrained():
    assert ks.list_models("legacy_seresnext*") == [
        "legacy_seresnext101_32x4d", "legacy_seresnext26_32x4d", "legacy_seresnext50_32x4d"]
    assert ks.list_models("nothing*") == []
    with_weights = ks.list_models(pretrained=True)
    assert "legacy_senet154" in with_weights and "seresnet18" not in with_weights
    assert ks.list_models("seresnet5*", pretrained=True) == ["seresnet50"]


def test_unknown_model_suggests_close_names():
    with pytest.raises(ValueError, match="Unknown model 'seresnet5'.*seresnet50"):
        ks.create_model("seresnet5")


# --- keras.applications functions -----------------------------------------------------------------

@pytest.mark.parametrize("function_name", sorted(APPLICATIONS))
def test_application_signature_is_keras_applications(function_name):
    """Same parameters, order and defaults as keras.applications.ResNet50, except name=None (which
    defaults to the registry entry's name rather than a fixed string)."""
    function = getattr(ks, function_name)
    reference = inspect.signature(keras.applications.ResNet50)
    reference = reference.replace(parameters=[
        p.replace(default=None) if p.name == "name" else p for p in reference.parameters.values()])
    assert inspect.signature(function) == reference
    assert APPLICATIONS[function_name] in function.__doc__


def test_every_application_is_a_package_attribute():
    assert {n for n, module in ks._EXPORTS.items() if module == "keras_senet.applications"} == set(APPLICATIONS)
    assert all(callable(getattr(ks, n)) for n in APPLICATIONS)


# Every function's body is the same one-line forward of its APPLICATIONS name; the big EfficientNets
# (B4-B7), MixNet-XL and the RegNetYs but the smallest take 10-30 s each to build twice and exercise
# nothing the others do not.
@pytest.mark.parametrize("function_name", sorted(set(APPLICATIONS) - {
    "SEEfficientNetB4", "SEEfficientNetB5", "SEEfficientNetB6", "SEEfficientNetB7", "SEMixNetXL"} - {
    name for name in APPLICATIONS if name.startswith("SERegNetY") and name != "SERegNetY002"}))
def test_application_builds_its_registry_entry(function_name):
    entry = APPLICATIONS[function_name]
    model = getattr(ks, function_name)(weights=None, input_shape=SMALL)
    reference = ks.create_model(entry, input_shape=SMALL)
    assert model.name == entry
    assert [layer.name for layer in model.layers] == [layer.name for layer in reference.layers]
    assert model.count_params() == reference.count_params()


def test_application_defaults_like_keras():
    """Called with only weights=None, an application has keras.applications.ResNet50's input, output and
    final activation, with the top and without."""
    for kwargs in (dict(weights=None, include_top=False), dict(weights=None)):
        model, reference = ks.SEResNet50(**kwargs), keras.applications.ResNet50(**kwargs)
        assert model.input.shape == reference.input.shape
        assert model.output.shape == reference.output.shape
    assert model.layers[-1].activation is reference.layers[-1].activation  # softmax


def test_input_shape_other_than_default_and_channels():
    model = ks.create_model("seresnet18", input_shape=(96, 128, 1), classes=5)
    out = model(np.zeros((1, 96, 128, 1), "float32"))
    assert out.shape == (1, 5)


BAD_ARGUMENTS = [
    (dict(weights="imagenet", classes=10), "classes should be 1000"),
    (dict(weights="imagenet", input_shape=(224, 224, 1)), "3 channels"),
    (dict(weights="/no/such/file.weights.h5"), "no such file"),
    (dict(weights="model.h5"), "no such file"),
    (dict(weights="b9_in1k"), "Unknown pretrained tag 'b9_in1k'"),
    (dict(weights="ftp://host/model.safetensors"), "unsupported URL scheme"),
    (dict(weights="http://example.com/model.safetensors"), "only https://"),
    (dict(weights=3), "weights=3"),
    (dict(include_top="yes"), "include_top"),
    (dict(pooling="mean"), "pooling='mean'"),
    (dict(classes=0), "classes"),
    (dict(classes=2.5), "classes"),
    (dict(input_shape=(16, 16, 3)), "at least 32"),
    (dict(input_shape=(64, 64)), "3 entries"),
    (dict(input_shape="64x64"), "input_shape"),
    (dict(input_shape=(64, 64, 0)), "channel"),
    (dict(input_tensor=np.zeros((1, 64, 64, 3))), "input_tensor"),
    (dict(attention="squeeze"), "valid names"),
    (dict(dropout=0.5), "Unknown argument"),
]


@pytest.mark.parametrize("kwargs,message", BAD_ARGUMENTS, ids=[str(k) for k, _ in BAD_ARGUMENTS])
def test_bad_arguments_raise_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ks.create_model("seresnet50", **kwargs)  # a model with pretrained weights


def test_imagenet_for_a_model_without_upstream_weights():
    with pytest.raises(ValueError, match="'seresnet18' has no pretrained weights upstream"):
        ks.create_model("seresnet18", weights="imagenet")


def test_existing_file_of_unknown_kind(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown checkpoint kind"):
        ks.create_model("seresnet50", weights=str(path))


def test_applications_check_arguments_too():
    with pytest.raises(ValueError, match="classes should be 1000"):
        ks.SEResNet50(classes=10)
    with pytest.raises(ValueError, match="pretrained weights need 3 channels"):
        ks.SENet154(input_shape=(224, 224, 4))


@pytest.mark.parametrize("name", ["seresnet18", "rexnet_100"])  # rexnet_100: a Dropout head (its seed is a
def test_weights_file_round_trip(tmp_path, name):                  # variable, not a saved weight)
    """A model's own ``model.save_weights`` file loads back through ``weights=`` to the same outputs."""
    model = ks.create_model(name, input_shape=SMALL, classes=3)
    path = tmp_path / f"{name}.weights.h5"
    model.save_weights(path)
    loaded = ks.create_model(name, weights=str(path), input_shape=SMALL, classes=3)
    images = np.random.default_rng(0).normal(size=(2, *SMALL)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(images)),
                                  keras.ops.convert_to_numpy(loaded(images)))


def test_attention_override_builds_an_ablation():
    plain = ks.create_model("resnet50", input_shape=SMALL)
    with_se = ks.create_model("resnet50", input_shape=SMALL, attention="se")
    with_cbam = ks.create_model("resnet50", input_shape=SMALL, attention="cbam")
    se50 = ks.create_model("seresnet50", input_shape=SMALL)
    assert with_se.count_params() == se50.count_params()
    assert plain.count_params() < with_se.count_params()
    assert any(isinstance(layer, ks.layers.CBAM) for layer in with_cbam.layers)


def test_attention_override_on_an_inverted_residual_network():
    """The SE positions of MobileNetV3 (blocks whose timm string has se0.25) take any attention layer, and
    attention=None drops exactly the SE layers' weights."""
    se = ks.create_model("mobilenetv3_large_100", input_shape=SMALL)
    eca = ks.create_model("mobilenetv3_large_100", input_shape=SMALL, attention="eca")
    plain = ks.create_model("mobilenetv3_large_100", input_shape=SMALL, attention=None)
    se_layers = [layer for layer in se.layers if isinstance(layer, ks.layers.SqueezeExcite)]
    assert len(se_layers) == 8 and all(layer.gate == "hard_sigmoid" for layer in se_layers)
    assert [l.name for l in eca.layers if isinstance(l, ks.layers.EfficientChannelAttention)] == [
        layer.name for layer in se_layers]
    assert plain.count_params() == se.count_params() - sum(layer.count_params() for layer in se_layers)


def test_attention_override_drops_the_registered_attention_kwargs():
    """gcresnet33ts registers GC with fuse_add=True, fuse_scale=False (timm's "gca"): another attention starts
    from its own defaults (the SE ablation is seresnet33ts), and GC kwargs given with the override apply."""
    se = ks.create_model("gcresnet33ts", input_shape=SMALL, attention="se")
    assert se.count_params() == ks.create_model("seresnet33ts", input_shape=SMALL).count_params()
    gca = ks.create_model("seresnext26ts", input_shape=SMALL, attention="gc",
                          attention_kwargs={"fuse_add": True, "fuse_scale": False})
    assert gca.count_params() == ks.create_model("gcresnext26ts", input_shape=SMALL).count_params()
    (gc,) = {(layer.fuse_add, layer.fuse_scale) for layer in gca.layers if isinstance(layer, ks.layers.GlobalContext)}
    assert gc == (True, False)


# --- preprocessing and labels ---------------------------------------------------------------------

def test_preprocess_input_matches_float64_reference():
    images = np.random.default_rng(0).integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = (images.astype("float64") / 255.0 - mean) / std
    out = ks.preprocess_input(images, model="seresnet50")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)
    tensor_out = keras.ops.convert_to_numpy(ks.preprocess_input(keras.ops.convert_to_tensor(images)))
    np.testing.assert_allclose(tensor_out, expected, atol=1e-5)
    first = ks.preprocess_input(images.transpose(0, 3, 1, 2), data_format="channels_first")
    np.testing.assert_allclose(first, expected.transpose(0, 3, 1, 2), atol=1e-5)


def test_preprocess_input_rejects_wrong_channels():
    with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):
        ks.preprocess_input(np.zeros((1, 8, 8, 4)))


def test_decode_predictions_uses_shipped_imagenet_labels():
    scores = np.zeros((2, 1000), "float32")
    scores[0, 1], scores[0, 2], scores[1, 999] = 0.9, 0.05, 1.0
    decoded = ks.decode_predictions(scores, top=2)
    assert decoded[0][0] == ("n01443537", "goldfish", pytest.approx(0.9))
    assert decoded[0][1][:2] == ("n01484850", "great_white_shark")
    assert decoded[1][0][:2] == ("n15075141", "toilet_tissue")
    # All 1000 WordNet ids in timm's class order (the order of the upstream checkpoints).
    info = timm.data.ImageNetInfo()
    decoded = ks.decode_predictions(np.eye(1000), top=1)
    assert [row[0][0] for row in decoded] == [info.index_to_label_name(i) for i in range(1000)]


@pytest.mark.parametrize("scores,top,message", [
    (np.zeros((2, 10)), 5, "shape"), (np.zeros(1000), 5, "shape"), (np.zeros((1, 1000)), 0, "top")])
def test_decode_predictions_bad_input(scores, top, message):
    with pytest.raises(ValueError, match=message):
        ks.decode_predictions(scores, top=top)


# --- model_info and CLI ---------------------------------------------------------------------------

def test_model_info_figures():
    """model_info's figures are timm's: parameters, BatchNorm statistics, MACs, default input and crop."""
    info = ks.model_info("seresnet50")
    assert (info["trainable_params"], info["non_trainable_params"]) == timm_param_counts("seresnet50")
    assert info["gmacs"] * 1e9 == pytest.approx(timm_macs("seresnet50", 224))
    assert info["gflops"] == pytest.approx(2 * info["gmacs"])
    cfg = timm.models.get_pretrained_cfg("seresnet50")
    assert (info["input_size"][2], *info["input_size"][:2]) == tuple(cfg.input_size)
    assert info["crop_pct"] == pytest.approx(cfg.crop_pct)


def test_cli_list_and_info(capsys):
    """In this process (the console script's `main`): the list, the facts, and clear errors."""
    from keras_senet import cli

    assert cli.main(["list", "ecaresnet*"]) == 0
    assert capsys.readouterr().out.split() == ks.list_models("ecaresnet*")
    assert cli.main(["info", "seresnet18", "--json", "--input-size", "64"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "seresnet18" and data["input_size"] == [64, 64, 3]
    assert data["gmacs"] * 1e9 == pytest.approx(timm_macs("seresnet18", 64))
    assert cli.main(["info", "seresnet5"]) == 2
    assert "Unknown model 'seresnet5'" in capsys.readouterr().err
    assert cli.main(["list", "nothing*"]) == 1


def test_cli_errors_are_clear_in_a_fresh_process():
    """The `keras-senet` command as a user starts it: exit status 2 and one line, no traceback."""
    result = run_cli("info", "seresnet5")
    assert result.returncode == 2
    assert "Unknown model 'seresnet5'" in result.stderr and "Traceback" not in result.stderr


def test_keras_file_loads_in_a_fresh_process(tmp_path):
    """`import keras_senet` alone registers the custom layers that keras.saving.load_model needs."""
    path = tmp_path / "m.keras"
    model = ks.create_model("ecaresnetlight", input_shape=SMALL, classes=3, attention="cbam")
    model.save(path)
    code = ("import keras, keras_senet, numpy as np\n"
            f"m = keras.saving.load_model({str(path)!r})\n"
            f"print(m.predict(np.ones((1, 64, 64, 3)), verbose=0).shape)\n")
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("(1, 3)")
