"""Independent reference figures computed from timm's PyTorch models (pretrained=False)."""

import functools

import timm
import torch
from timm.layers import GlobalContext


@functools.lru_cache(maxsize=1)
def timm_model(name):
    """The timm model of the same registry name, in eval mode, with non-trivial BatchNorm statistics
    (`timm_model_with_statistics`, seed 0). Cached: the sweep's tests of one model share one build.
    Callers must not change it."""
    return timm_model_with_statistics(name)


def timm_param_counts(name):
    """(trainable parameters, BatchNorm running-statistics elements) of timm's model."""
    model = timm_model(name)
    params = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for key, b in model.named_buffers() if key.endswith(("running_mean", "running_var")))
    return params, stats


def timm_hook_macs(module, input_shape_nhwc):
    """Multiply-accumulates of one forward pass of a torch ``module`` on one sample of
    ``input_shape_nhwc`` (batch, height, width, channels): weight elements x output positions of every
    conv and linear layer, counted by forward hooks."""
    total = []

    def hook(mod, inputs, output):
        positions = output.numel() // output.shape[0] // mod.weight.shape[0]
        total.append(mod.weight.numel() * positions)

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear))]
    batch, height, width, channels = input_shape_nhwc
    try:
        with torch.inference_mode():
            module.eval()(torch.zeros(batch, channels, height, width))
    finally:
        for handle in handles:
            handle.remove()
    return sum(total)


def timm_macs(name, size):
    """Multiply-accumulates of timm's model ``name`` on one size x size image."""
    return timm_hook_macs(timm_model(name), (1, size, size, 3))


def timm_model_with_statistics(name, seed=0):
    """A fresh timm model (eval mode) whose BatchNorms have non-trivial affine parameters and running
    statistics, so a converter that mixes them up or drops them changes the outputs."""
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        # Like a trained network (and timm's zero_init_last), damp each residual branch's last
        # BatchNorm; otherwise activations grow ~exponentially with depth and float32 round-off,
        # not the architecture, dominates the comparison of the 100+ layer models.
        for module in model.modules():
            # ResNet blocks have `downsample`; EfficientNet/MobileNetV3 blocks say `has_skip`.
            if hasattr(module, "downsample") or getattr(module, "has_skip", False):
                norms = [m for m in module.children() if isinstance(m, torch.nn.BatchNorm2d)]
                if not norms:  # RegNet, SKNet: the norms sit in ConvNormAct children (conv2.bn / conv3.bn)
                    norms = [m for path, m in module.named_modules()
                             if isinstance(m, torch.nn.BatchNorm2d) and not path.startswith("downsample")]
                norms[-1].weight.mul_(0.1)
        # timm zero-initialises the last conv of GlobalContext's added MLP (gcresnet*: "gca"), which would make
        # the block an identity and leave its attention pooling, MLP and LayerNorm untested; a trained one is
        # not zero (measured on gcresnext26ts: these weights move its logits by 12% of max |logit|).
        for module in model.modules():
            if isinstance(module, GlobalContext) and module.mlp_add is not None:
                module.mlp_add.fc2.weight.normal_(0.0, 0.02)
    return model


def timm_logits(model, images_nhwc):
    """timm's logits for channels-last float32 images."""
    with torch.inference_mode():
        return model(torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).copy())).numpy()


def timm_eval_pixels(config, pixels, input_size=None):
    """timm's own eval transform (PIL resize + centre crop, ``timm.data.create_transform``) of uint8
    RGB images (a list of ``(h, w, 3)`` arrays, any sizes), as float32 pixels in [0, 255], NHWC: the
    independent reference for `keras_senet.preprocessing.eval_transform`. ``config`` gives the
    interpolation, crop_pct and (unless ``input_size`` is given) the input size."""
    import numpy as np
    import PIL.Image
    import timm.data

    transform = timm.data.create_transform(input_size=input_size or config.input_size,
                                           interpolation=config.interpolation, crop_pct=config.crop_pct,
                                           mean=(0.0, 0.0, 0.0), std=(1 / 255,) * 3)
    return np.stack([transform(PIL.Image.fromarray(p)).permute(1, 2, 0).numpy() for p in pixels])


def timm_features(name, reference, images_nhwc):
    """timm's ``features_only=True`` model of ``name`` carrying ``reference``'s weights (timm builds the
    feature model as its own class, e.g. EfficientNetFeatures; every one of its tensors must come from
    the reference), run on channels-last float32 images: ``(feature_info, [NHWC arrays])`` where
    feature_info is ``[(channels, stride), ...]``, stem first."""
    features = timm.create_model(name, pretrained=False, features_only=True).eval()
    weights = reference.state_dict()
    # timm's FeatureListNet flattens a Sequential stage container ("features.0" -> "features_0"), as its
    # own pretrained loading does for ReXNet and GhostNet
    flattened = {key.replace(".", "_", 1): value for key, value in weights.items()}
    wanted = features.state_dict()
    chosen = {key: weights[key] if key in weights else flattened.get(key) for key in wanted}
    missing = sorted(key for key, value in chosen.items() if value is None)
    assert not missing, f"timm's feature model of {name} has tensors the full model lacks: {missing[:3]}"
    features.load_state_dict(chosen)
    with torch.inference_mode():
        maps = features(torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).copy()))
    info = list(zip(features.feature_info.channels(), features.feature_info.reduction()))
    return info, [m.permute(0, 2, 3, 1).numpy() for m in maps]
