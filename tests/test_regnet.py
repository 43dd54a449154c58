"""RegNet width arithmetic against timm's own, for every RegNetY config timm has, registered or not (the
registered models' layers, parameter counts and logits are swept in test_models.py)."""

import dataclasses

import pytest
from timm.models import regnet as timm_regnet

from keras_senet.models.regnet_spec import REGNETY, RegNetSpec, regnety_spec, stage_widths


@pytest.mark.parametrize("name", sorted(REGNETY))
def test_config_and_stage_widths_are_timms(name):
    """Our config is timm's ``model_cfgs[name]`` and generates timm's stage widths, depths and group sizes
    (regnety_640/1280/2560 included: too big to sweep, so not registered)."""
    spec = regnety_spec(name)
    upstream = timm_regnet.model_cfgs[name]
    for field in ("w0", "wa", "wm", "depth", "group_size", "bottle_ratio", "se_ratio", "group_min_ratio",
                  "stem_width"):
        assert getattr(spec, field) == getattr(upstream, field), field
    assert (upstream.downsample, upstream.linear_out, upstream.preact, upstream.num_features) == (
        "conv1x1", False, False, 0)  # the options RegNetSpec leaves out
    # RegNet._get_stage_args reads only its `cfg` argument, not the instance.
    stage_args, _ = timm_regnet.RegNet._get_stage_args(None, upstream)
    expected = tuple([args[key] for args in stage_args] for key in ("out_chs", "depth", "group_size"))
    assert stage_widths(spec) == expected


def test_spec_rejects_what_timm_would_not_build():
    spec = regnety_spec("regnety_002")
    with pytest.raises(ValueError, match="w0 must be a positive multiple of 8, got 20"):
        dataclasses.replace(spec, w0=20)
    with pytest.raises(ValueError, match=r"generate 3 stages of widths \[24, 56, 152\]; a RegNet has 4"):
        dataclasses.replace(spec, depth=5)
    with pytest.raises(ValueError, match="wm must be > 1"):
        RegNetSpec(w0=24, wa=36.44, wm=1.0, depth=13, group_size=8)
