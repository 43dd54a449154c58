"""Every registered model, swept: builds, shapes, timm's exact parameter counts, MACs, save/load, a fit step.

Models are built once per module (a module-scoped fixture parametrised by name), so pytest groups the
tests of one model together; under pytest-xdist the tests of a model stay on one worker
(``--dist loadgroup``). The largest models carry the ``slow`` mark; CI runs them too.

Two kinds of test: the numeric claims against timm (parameter and MAC counts, the same function through
the download/convert path, layer names, entry config) sweep EVERY registered model; the architecture-
generic checks (marked ``generic``: output shape, pooling heads, .keras round trip, a fit step) exercise
layer types and builder options, not one model's numbers, so they run on REPRESENTATIVE only and are
deselected (tests/conftest.py) on the others. `test_representatives_cover_every_feature` keeps
REPRESENTATIVE covering every architectural feature the registry has.
"""

import dataclasses
import math
import os

import keras
import numpy as np
import pytest
import safetensors.numpy

import keras_senet as ks
from export_models import small_spec
from images import normal_images
from keras_senet.complexity import count_macs
from keras_senet.models import build_model
from keras_senet.models.ghostnet_spec import GhostNetSpec
from keras_senet.models.ghostnet_spec import decode as ghost_decode
from keras_senet.models.mobile_spec import decode
from keras_senet.models.features import pyramid_outputs
from timm_reference import timm_features, timm_logits, timm_macs, timm_model, timm_param_counts

# The swept model's input side: small, and odd, so every padding and ceil-mode pooling rule is exercised
# (a 65 x 65 image ends in a 3 x 3 map, a 64 x 64 one in 2 x 2).
SIZE = 65
BATCH = 2
# Registered but not swept by default: timm + Keras + the served checkpoint of a 0.28-1.28 B parameter network do
# not fit CI's 24 GB beside a second test worker. KERAS_SENET_TEST_HUGE=1 sweeps them too (README: which
# were checked, and how).
HUGE = {"regnety_640", "regnety_1280", "regnety_2560"}
# Models over ~60M parameters: a slower tier that CI still runs (HUGE only when asked).
LARGE = {"legacy_senet154", "senet154", "seresnet200d", "seresnet269d", "ecaresnet200d",
         "ecaresnet269d", "seresnextaa201d_32x8d", "seresnext101_64x4d", "seresnext101_32x8d",
         "seresnext101d_32x8d", "seresnextaa101d_32x8d", "tf_efficientnet_b7", "tf_efficientnet_b8",
         "regnety_160", "regnety_320", "resnest101e", "resnest200e", "resnest269e"} | HUGE
# One model per architectural feature (basic/bottleneck, ResNeXt, deep/tiered stem, avg-down,
# anti-aliasing, legacy Caffe layout and its basic block, SENet-154 layout, ECA, no attention): the generic
# checks run on these only, and the torch-backend pass sweeps them.
# Inverted-residual family: EfficientNet head + swish, mixed kernels + TF padding, MobileNetV3 head + SE rules,
# dsa blocks, edge residuals, ReLU6 without SE, a head conv without bias.
# RegNet family: grouped-conv bottleneck with SE on the bottleneck width sized by the block input.
# ByobNet family: tiered stem + max pool, grouped bottleneck with SE (seresnext26ts); tiered stem with a strided
# last conv, GC attention (timm's "gca"), final 1x1 conv (gcresnet33ts).
REPRESENTATIVE = {"seresnet18", "legacy_seresnet18", "legacy_seresnet50", "seresnext26t_32x4d",
                  "seresnetaa50d", "ecaresnet26t", "resnet50", "legacy_senet154",
                  "efficientnet_b0", "tf_mixnet_s", "mobilenetv3_large_100", "lcnet_050", "efficientnet_es",
                  "efficientnet_lite0", "fbnetv3_b", "regnety_002", "skresnet18", "skresnext50_32x4d", "resnest14d",
                  "rexnet_100", "ghostnetv2_100", "ghostnetv3_100", "seresnext26ts", "gcresnet33ts"}
# Spec fields that size a model rather than choose its layers (a MobileSpec's `arch` is replaced by the
# kinds of layer its decoded blocks use, see `features`; a RegNetSpec's w0/wa/wm/depth/group_size and width
# rounding generate its widths and depths; a ResNetSpec's `block_kwargs` configure the SK / split-attention
# layer of its block type, whose options tests/test_layers.py checks against timm; a GhostNetSpec's `cfgs`
# are its stages, whose block kinds `features` reads; a pruned ResNet's `block_widths` size the same layers as
# its unpruned model's, and the sweep checks both pruned models against timm; a ByobNetSpec's `widths` size its
# stages).
SIZE_FIELDS = {"depths", "base_width", "block_kwargs", "block_widths", "stem_width", "arch", "channel_multiplier",
               "channel_divisor", "round_limit", "depth_multiplier", "depth_trunc", "fix_first_last", "stem_size",
               "fix_stem", "num_features", "w0", "wa", "wm", "depth", "group_size", "group_min_ratio", "cfgs", "widths"}
NAMES = [n for n in ks.list_models() if n not in HUGE or os.environ.get("KERAS_SENET_TEST_HUGE") == "1"]


def _param(name):
    marks = [pytest.mark.xdist_group(name), pytest.mark.registry]
    if name in LARGE:
        marks.append(pytest.mark.slow)
    if name in REPRESENTATIVE:
        marks.append(pytest.mark.representative)
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(scope="module", params=[_param(n) for n in NAMES])
def name(request):
    return request.param


@pytest.fixture(scope="module")
def model(name):
    """The model with timm's defaults (1000 classes, logits) at SIZE x SIZE; built once per model."""
    return ks.create_model(name, input_shape=(SIZE, SIZE, 3), classifier_activation=None)


def features(name):
    """The architectural features of a registered model: its spec class and the value of every spec
    field that chooses layers (grouped convolution as one feature, whatever the group count)."""
    spec = ks.zoo.get_entry(name).spec
    values = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name not in SIZE_FIELDS}
    if "cardinality" in values:
        values["cardinality"] = "grouped" if values["cardinality"] > 1 else 1
    ghost_modules = set()
    if isinstance(spec, GhostNetSpec):  # by ghost module kind: V2's first two blocks are V1's
        module = "v3" if values.pop("version") == "v3" else "v1"
        ghost_modules = {f"ghost_module={module}:{b.mode}" for stage in ghost_decode(spec) for b in stage}
    found = {type(spec).__name__} | {f"{key}={value!r}" for key, value in values.items()} | ghost_modules
    if hasattr(spec, "arch"):  # inverted-residual family: block types, mixed kernels, skips, SE, activations
        for block in (b for stage in decode(spec) for b in stage):
            found |= {f"block={block.kind}", f"activation={block.activation}", f"skip={block.has_skip}",
                      f"se={bool(block.se_channels)}"}
            found |= {f"mixed_{part}" for part, k in (("dw", block.kernel_size), ("exp", block.exp_kernel_size),
                                                       ("pw", block.pw_kernel_size)) if len(k) > 1}
    return found


def test_representatives_cover_every_feature():
    """A model added with a new feature (a new family, block, stem, attention...) needs a representative
    here, and a small model in tests/export_models.py, or its generic and export checks never run."""
    from export_models import FAMILIES

    every = set().union(*map(features, NAMES))
    for chosen in (REPRESENTATIVE, set(FAMILIES.values())):
        assert chosen <= set(NAMES)
        assert every - set().union(*map(features, chosen)) == set()


def _count(weights):
    return sum(math.prod(w.shape) for w in weights)


def _images(size=SIZE):
    return normal_images(BATCH, size, seed=1)


@pytest.mark.generic
def test_output_shape_and_name(name, model):
    assert model.name == name
    out = keras.ops.convert_to_numpy(model(_images(), training=False))
    assert out.shape == (BATCH, 1000)
    assert np.all(np.isfinite(out))


@pytest.mark.graph
def test_parameter_counts_equal_timm(name, model):
    """Trainable parameters == timm's parameters(); non-trainable == BatchNorm running statistics."""
    params, stats = timm_param_counts(name)
    assert _count(model.trainable_weights) == params
    assert _count(model.non_trainable_weights) == stats


@pytest.mark.graph
def test_macs_equal_timm(name, model):
    """MACs counted from our graph == conv/linear MACs of timm's forward pass, same input size."""
    assert count_macs(model) == timm_macs(name, SIZE)


def test_same_function_as_timm(name, model, checkpoint_server):
    """timm's weights (non-trivial BatchNorm statistics) converted and assigned by the real conversion
    (for the representatives saved as safetensors and served over HTTP on 127.0.0.1 through the whole
    download + cache + read path; that code is the same for every architecture): the logits equal
    timm's (max abs diff <= 1e-4 x max |logit|, same top-1) on an odd-sized input, which exercises
    every padding and ceil-mode pooling rule; and every level of the feature pyramid (the layers
    ``create_model(..., features_only=True)`` taps) equals timm's ``features_only=True`` model's: same
    channels, strides, shapes and values (max abs diff <= 1e-4 x max |feature|)."""
    reference = timm_model(name)
    state_dict = {k: v.numpy() for k, v in reference.state_dict().items()}
    if name in REPRESENTATIVE:
        ks.weights.load(model, checkpoint_server.add(f"parity/{name}/model.safetensors",
                                                     safetensors.numpy.save(state_dict)))
    else:  # the same convert + assign step, without serialising up to 600 MB through a file
        ks.weights.load_timm_state_dict(model, state_dict, source=f"timm {name}")
    images = _images()
    expected = timm_logits(reference, images)
    out = keras.ops.convert_to_numpy(model(images, training=False))
    assert np.abs(out - expected).max() <= 1e-4 * np.abs(expected).max()
    np.testing.assert_array_equal(out.argmax(-1), expected.argmax(-1))

    feature_info = ks.zoo.get_entry(name).feature_info
    timm_info, timm_maps = timm_features(name, reference, images)
    assert [(f.channels, f.stride) for f in feature_info] == timm_info
    pyramid = keras.Model(model.input, pyramid_outputs(model, feature_info))
    maps = pyramid(images, training=False)
    assert list(maps) == [f.level for f in feature_info]
    for level, want in zip(maps, timm_maps):
        got = keras.ops.convert_to_numpy(maps[level])
        assert got.shape == want.shape, level
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max(), level


@pytest.mark.graph
def test_layer_names_cover_timm_modules(name, model):
    """Every timm module holding weights has a Keras layer of the same path ('.' -> '_'), or lies inside
    one of our attention layers (SE's fc1/fc2, a SelectiveKernel's paths.0.conv, ...)."""
    keras_names = {layer.name for layer in model.layers}
    attention = {layer.name for layer in model.layers if type(layer).__module__.startswith("keras_senet.layers")}
    for module_name, module in timm_model(name).named_modules():
        has_own_weights = any(True for _ in module.parameters(recurse=False))
        parts = module_name.split(".")
        if not has_own_weights or any("_".join(parts[:cut]) in attention for cut in range(1, len(parts))):
            continue  # attention internals live inside the attention layer
        assert module_name.replace(".", "_") in keras_names, module_name


@pytest.mark.graph
def test_entry_config_is_timms(name, model):
    """The entry's classifier / first conv names and feature_info (channels, stride) are timm's, and each
    feature layer of our model has the shape of timm's feature module's output on the same input."""
    import torch
    reference = timm_model(name)
    entry = ks.zoo.get_entry(name)
    assert entry.classifier == reference.pretrained_cfg["classifier"].replace(".", "_")
    assert entry.first_conv == reference.pretrained_cfg["first_conv"].replace(".", "_")
    model.get_layer(entry.classifier), model.get_layer(entry.first_conv)
    expected = [(info["num_chs"], info["reduction"]) for info in reference.feature_info]
    assert [(info.channels, info.stride) for info in entry.feature_info] == expected
    shapes = {}

    def record(key):
        def hook(module, inputs, output):  # returns None: the output is left as it is
            shapes.setdefault(key, tuple(output.shape))
        return hook

    modules = dict(reference.named_modules())
    hooks = [modules[info["module"]].register_forward_hook(record(info["module"])) for info in reference.feature_info]
    try:
        with torch.inference_mode():
            reference(torch.zeros(1, 3, SIZE, SIZE))
    finally:
        for hook in hooks:
            hook.remove()
    for info, upstream in zip(entry.feature_info, reference.feature_info):
        _, channels, height, width = shapes[upstream["module"]]
        assert tuple(model.get_layer(info.layer).output.shape) == (None, height, width, channels), info


@pytest.mark.generic
def test_without_top_each_pooling(name):
    num_features = ks.zoo.get_entry(name).num_features
    source = keras.Input((64, 64, 3), name="pixels")
    scaled = keras.layers.Rescaling(1 / 255.0)(source)
    for pooling, shape in ((None, (BATCH, 2, 2, num_features)),
                           ("avg", (BATCH, num_features)), ("max", (BATCH, num_features))):
        model = ks.create_model(name, include_top=False, pooling=pooling, input_tensor=scaled)
        assert model.inputs[0] is source  # input_tensor: the model starts at its source input
        assert keras.ops.convert_to_numpy(model(_images(64) * 255.0)).shape == shape


@pytest.mark.generic
def test_keras_save_and_load_identical(name, model, tmp_path):
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)  # safe_mode: only registered layers, no lambdas
    images = _images()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(images, training=False)),
                                  keras.ops.convert_to_numpy(restored(images, training=False)))


@pytest.mark.generic
def test_one_fit_step_learns(name):
    # A fresh model: the shared one may hold timm's converted weights by now, whose saturated
    # hard-sigmoid SE gates (MobileNetV3) legitimately pass no gradient. Its architecture cut to one block
    # per stage (tests/export_models.py: every block type, stem, shortcut and attention module stays, the
    # repeats go): whether every layer gets a gradient does not depend on how often a block repeats, and the
    # full legacy_senet154 took 100 s here on an AVX2 CI machine.
    model = build_model(small_spec(name), (SIZE, SIZE, 3), classifier_activation=None, name=name)
    # run_eagerly: tracing (and XLA-compiling) the training graph of the 100+ layer models costs a
    # minute of CI per model; graph mode with the default jit_compile is exercised by
    # test_fit_with_default_jit_compile.
    # A large step: a gradient of 1e-8 (deep, freshly initialised nets) must still move a weight of 1.0.
    model.compile(optimizer=keras.optimizers.SGD(1.0), run_eagerly=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.weights]
    history = model.fit(_images(), np.array([1, 7]), batch_size=BATCH, epochs=1, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss) and loss > 0
    after = [keras.ops.convert_to_numpy(w) for w in model.weights]
    changed = {w.path for w, a, b in zip(model.weights, before, after) if not np.array_equal(a, b)}
    # A bias right before a BatchNorm (fc1 of ReXNet's SE) gets no gradient in training mode: the batch mean
    # takes it out, in timm too.
    normed = {layer.name for layer in model.layers if getattr(layer, "use_norm", False)}
    # GlobalContext's added MLP ends in a zero-initialised conv (timm's init; the gcresnet* models' "gca", no
    # scaling gate): before its first step nothing in front of that conv gets a gradient, in timm too.
    zero_last = {layer.name for layer in model.layers
                 if getattr(layer, "fuse_add", False) and not getattr(layer, "fuse_scale", True)}
    trainable = [w.path for w in model.trainable_weights
                 if not (w.path.split("/")[0] in normed and w.path.endswith("fc1/bias"))
                 and not (w.path.split("/")[0] in zero_last and "/mlp_add/fc2/" not in w.path)]
    # A 2-image batch can leave a few ReLU units dead (e.g. the 4-unit SE bottleneck of the legacy
    # SE-ResNet-18/34), and their weights get no gradient; everything else must move.
    assert sum(p in changed for p in trainable) >= 0.95 * len(trainable)
    assert trainable[0] in changed and trainable[-1] in changed  # stem conv and classifier
    assert any("moving_mean" in p for p in changed)  # BatchNorm statistics updated in training


@pytest.mark.parametrize("name", ["seresnet18", "legacy_seresnet50", "ecaresnet26t", "seresnet152d"])
def test_builds_at_default_size(name):
    entry = ks.zoo.get_entry(name)
    model = ks.create_model(name)
    assert model.input.shape == (None, entry.default_size, entry.default_size, 3)
    assert model.output.shape == (None, 1000)


def test_fit_with_default_jit_compile():
    """model.fit with Keras' default compile settings (XLA on TensorFlow) reduces the loss."""
    model = ks.create_model("seresnet18", input_shape=(32, 32, 3), classes=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    images = np.concatenate([np.zeros((4, 32, 32, 3)), np.ones((4, 32, 32, 3))]).astype("float32")
    labels = np.array([0] * 4 + [1] * 4)
    history = model.fit(images, labels, batch_size=8, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(block="sk_basic", block_kwargs=(("radix", 2),)), "block_kwargs key 'radix'"),
    (dict(block="resnest_bottleneck", block_kwargs=(("split_input", True),)), "block_kwargs key 'split_input'"),
    (dict(block="sk_bottleneck", layout="legacy"), "needs layout='timm'"),
    (dict(block="sk_basic", cardinality=32), "block='sk_basic' supports only cardinality=1"),
])
def test_branch_block_specs_reject_what_timm_does_not_build(kwargs, message):
    from keras_senet.models import ResNetSpec

    with pytest.raises(ValueError, match=message):
        ResNetSpec(depths=(1, 1, 1, 1), **kwargs)


_PRUNED = ((8, 8, 16),) + ((8, 8, 32),) + ((16, 16, 64),) + ((16, 16, 128),)


@pytest.mark.parametrize("kwargs, message", [
    (dict(block="basic", block_widths=_PRUNED), "needs block='bottleneck'"),
    (dict(block="bottleneck", attention="se", block_widths=_PRUNED), "attention None or 'eca'"),
    (dict(block="bottleneck", block_widths=_PRUNED[:3]), "must be 4 \\(conv1, conv2, conv3\\) triples"),
    (dict(block="bottleneck", block_widths=_PRUNED[:3] + ((16, 16, 0),)), "triples of positive ints"),
    (dict(block="bottleneck", depths=(2, 1, 1, 1), block_widths=((8, 8, 16), (8, 8, 24)) + _PRUNED[1:]),
     "stage 1 end in different widths \\[16, 24\\]"),
])
def test_pruned_widths_rejected_before_building(kwargs, message):
    from keras_senet.models import ResNetSpec

    with pytest.raises(ValueError, match=message):
        ResNetSpec(**{"depths": (1, 1, 1, 1), **kwargs})


def test_pruned_widths_build_the_stated_channels():
    """Every conv of a pruned spec has its listed width, the feature levels report them, and ECA keeps the
    kernel of the unpruned width (timm: ecaresnet50d_pruned's layer4 ECA has k=7 at 2022 channels, where the
    adaptive rule would give 5)."""
    spec = ks.zoo.get_entry("ecaresnet50d_pruned").spec
    model = ks.models.build_model(spec, (64, 64, 3), classifier_activation=None)
    for index, widths in enumerate(spec.stage_block_widths()[3]):
        for conv, width in zip((1, 2, 3), widths):
            assert model.get_layer(f"layer4_{index}_conv{conv}").filters == width
    assert model.get_layer("layer4_0_se").get_config()["kernel_size"] == 7
    assert [f.channels for f in ks.zoo.get_entry("ecaresnet50d_pruned").feature_info] == [64, 19, 171, 818, 2022]
