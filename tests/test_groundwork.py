"""The package's structure holds: no import cycles, weights/ never builds a model, one network per load."""

import ast
import math
import os

import numpy as np
import pytest
import safetensors.numpy

import keras_senet as ks
from timm_reference import timm_model_with_statistics

PACKAGE = os.path.dirname(ks.__file__)


def _module_imports():
    """{module: set of keras_senet modules it imports (anywhere in the file, lazy imports included)}."""
    graph = {}
    for root, _, files in os.walk(PACKAGE):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(root, file)
            relative = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
            module = relative[: -len(".__init__")] if relative.endswith(".__init__") else relative
            imports = set()
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras_senet"):
                    imports.add(node.module)
                    imports.update(f"{node.module}.{alias.name}" for alias in node.names)
                elif isinstance(node, ast.Import):
                    imports.update(a.name for a in node.names if a.name.startswith("keras_senet"))
            graph[module] = imports
    return {m: {i for i in imports if i in graph and i != m} for m, imports in graph.items()}


def test_import_graph_has_no_cycle():
    graph = _module_imports()
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if target.startswith(module + "."):
                continue  # a package importing its own submodules is not a cycle
            if state.get(target) == "open" and not module.startswith(target + "."):
                pytest.fail(f"import cycle: {' -> '.join(path + [target])}")
            if target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_weights_package_never_imports_the_factory_or_a_builder():
    graph = _module_imports()
    for module, imports in graph.items():
        if module.startswith("keras_senet.weights"):
            bad = {i for i in imports if i.startswith(("keras_senet.factory", "keras_senet.models"))}
            assert not bad, f"{module} imports {bad}"


def test_resnet_names_only_in_the_resnet_family_and_registry():
    for root, _, files in os.walk(PACKAGE):
        for file in files:
            path = os.path.join(root, file)
            if not file.endswith(".py") or path.endswith(("models/resnet.py", "models/spec.py", "zoo.py",
                                                          os.path.join("models", "__init__.py"))):
                continue
            text = open(path).read()
            assert "build_resnet" not in text and "ResNetSpec" not in text, path


def test_headless_pretrained_load_builds_one_network(checkpoint_server, monkeypatch):
    """include_top=False with a classifier checkpoint: one network built, classifier tensors dropped,
    features equal timm's forward_features."""
    import torch

    from keras_senet.models import resnet

    reference = timm_model_with_statistics("legacy_seresnet18")
    url = checkpoint_server.add("headless/model.safetensors",
                                safetensors.numpy.save({k: v.numpy() for k, v in reference.state_dict().items()}))
    builds = []
    original = resnet.build
    monkeypatch.setattr(resnet, "build", lambda *a, **k: builds.append(1) or original(*a, **k))
    model = ks.create_model("legacy_seresnet18", weights=url, include_top=False, input_shape=(64, 64, 3))
    assert len(builds) == 1
    images = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    with torch.inference_mode():
        expected = reference.forward_features(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))
    expected = expected.numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(model(images, training=False)), expected,
                               atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("weights, message", [
    ("ftp://host/model.safetensors", "unsupported URL scheme 'ftp'"),
    ("hf://org/repo/config.json", "unknown checkpoint kind"),
    ("https://host/model.onnx", "unknown checkpoint kind"),
    ("missing/model.safetensors", "no such file"),
    ("not_a_tag", "Unknown pretrained tag 'not_a_tag'"),
    (3, "is not allowed"),
])
def test_every_bad_weights_value_fails_before_building(weights, message, monkeypatch):
    """One resolver: create_model and ks.weights.load reject the same values with the same message,
    before any layer is made."""
    from keras_senet.models import resnet

    monkeypatch.setattr(resnet, "build", lambda *a, **k: pytest.fail("built a model for a bad weights value"))
    with pytest.raises(ValueError, match=message):
        ks.create_model("legacy_seresnet18", weights=weights)
    monkeypatch.undo()
    model = ks.create_model("legacy_seresnet18", input_shape=(32, 32, 3))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=message):
        ks.weights.load(model, weights)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_weights_load_returns_the_resolved_source(tmp_path):
    model = ks.create_model("seresnet18", input_shape=(32, 32, 3))
    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    source = ks.weights.load(model, path)
    assert isinstance(source, ks.weights.WeightsSource)
    assert (source.kind, source.checkpoint, source.model) == ("file", "keras_weights", "seresnet18")


def test_depthwise_kernels_convert_and_count_like_torch():
    """A depthwise convolution (torch: groups == in_channels, weight (C*m, 1, k, k)) converts onto
    Keras' DepthwiseConv2D (kernel (k, k, C, m)) with the same outputs, and its MACs are counted as
    timm/fvcore count them (kernel elements x output positions)."""
    import keras
    import torch

    from keras_senet.complexity import count_macs
    from keras_senet.weights import load_timm_state_dict

    channels, multiplier, size = 6, 2, 9
    conv = torch.nn.Conv2d(channels, channels * multiplier, 3, padding=1, groups=channels, bias=True).eval()
    image = keras.Input((size, size, channels))
    model = keras.Model(image, keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=multiplier,
                                                            name="dw")(image))
    load_timm_state_dict(model, {k: v.detach().numpy() for k, v in
                                 {"dw.weight": conv.weight, "dw.bias": conv.bias}.items()})
    x = np.random.default_rng(0).normal(size=(2, size, size, channels)).astype("float32")
    with torch.inference_mode():
        expected = conv(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-5)
    assert count_macs(model) == math.prod(conv.weight.shape) * size * size


def test_grouped_convolution_macs_count_per_group():
    import keras

    from keras_senet.complexity import count_macs

    image = keras.Input((8, 8, 16))
    model = keras.Model(image, keras.layers.Conv2D(32, 3, padding="same", groups=4, use_bias=False)(image))
    assert count_macs(model) == 8 * 8 * 32 * (16 // 4) * 3 * 3


@pytest.mark.parametrize("kind, torch_name", [
    ("relu", "relu"), ("relu6", "relu6"), ("swish", "silu"), ("silu", "silu"), ("hard_swish", "hardswish"),
    ("hard_sigmoid", "hardsigmoid"), ("sigmoid", "sigmoid"), ("gelu", "gelu"),
])
def test_shared_activations_are_torchs(kind, torch_name):
    """The families' activations by timm's names compute what PyTorch's do (timm's hard_swish /
    hard_sigmoid are relu6(x + 3) / 6 based, as Keras 3's hard_silu / hard_sigmoid)."""
    import keras
    import torch

    from keras_senet.models._blocks import activation

    x = np.linspace(-6, 6, 97, dtype="float32").reshape(1, 97, 1, 1)
    image = keras.Input((97, 1, 1))
    model = keras.Model(image, activation(image, kind, name="act"))
    expected = getattr(torch.nn.functional, torch_name)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-6)
    with pytest.raises(ValueError, match="activation 'mish' is not one of"):
        activation(image, "mish", name="bad")


def test_tf_same_padding_conv_pads_bottom_right_like_tensorflow():
    """`conv2d(padding="same")` (timm's tf_ ports) differs from the PyTorch-symmetric default on a
    stride-2 conv over an even input, and equals TensorFlow's own SAME convolution."""
    import keras
    import tensorflow as tf

    from keras_senet.models._blocks import conv2d

    image = keras.Input((8, 8, 2))
    same = keras.Model(image, conv2d(image, 3, 3, stride=2, padding="same", name="same"))
    torch_style = keras.Model(image, conv2d(image, 3, 3, stride=2, name="torch"))
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 3)).astype("float32")
    same.get_layer("same").kernel.assign(kernel)
    torch_style.get_layer("torch").kernel.assign(kernel)
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 2)).astype("float32")
    expected = tf.nn.conv2d(x, kernel, strides=2, padding="SAME").numpy()
    np.testing.assert_allclose(np.asarray(same(x)), expected, atol=1e-5)
    assert np.abs(np.asarray(torch_style(x)) - expected).max() > 1e-3
