"""weights/zoo_chart.py: the README's zoo chart regenerates from the manifest and shows every model."""

import importlib.util
import json
import os
import sys

import numpy as np

import keras_senet as ks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _chart_module():
    spec = importlib.util.spec_from_file_location("zoo_chart", os.path.join(ROOT, "weights", "zoo_chart.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["zoo_chart"] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def _manifest():
    with open(os.path.join(ROOT, "weights", "manifest.json")) as f:
        return json.load(f)


def test_one_point_per_model_with_accuracy_at_its_best_checkpoint():
    chart = _chart_module()
    manifest = _manifest()
    points = chart.chart_points(manifest)
    rated = {}
    for row in manifest["checkpoints"]:
        if row["top1"] is not None:
            rated.setdefault(row["model"], []).append(row)
    assert sorted(p.model for p in points) == sorted(rated)
    for p in points:
        best = max(rated[p.model], key=lambda r: r["top1"])
        assert (p.tag, p.top1, p.gmacs) == (best["tag"], best["top1"], best["gflops"] / 2)
    flags = {p.model: p.attention for p in points}
    # baselines are hollow: no attention block anywhere; SE nets, including the mobile ones, are filled
    assert flags["resnet50"] is False and flags["tf_efficientnet_lite0"] is False
    assert flags["seresnet50"] is True and flags["mobilenetv3_large_100"] is True
    assert flags["skresnet18"] is True and flags["resnest50d"] is True and flags["regnety_002"] is True
    assert {chart.family_label(ks.zoo.get_entry(m).paper) for m in ("seresnet50", "legacy_senet154")} == {
        "SE-ResNet / SE-ResNeXt / SENet"}


def test_chart_is_drawn(tmp_path):
    import matplotlib.image

    chart = _chart_module()
    out = chart.draw(chart.chart_points(_manifest()), str(tmp_path / "chart.png"))
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 50  # points, text, colours
    assert os.listdir(tmp_path) == ["chart.png"]  # no temporary left behind
