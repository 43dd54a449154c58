"""Independent reference figures computed from timm's PyTorch models (pretrained=False)."""

import functools
import math

import timm
import torch


@functools.lru_cache(maxsize=1)
def timm_model(name):
    """The timm model of the same registry name, in eval mode."""
    return timm.create_model(name, pretrained=False).eval()


def timm_param_counts(name):
    """(trainable parameters, BatchNorm running-statistics elements) of timm's model."""
    model = timm_model(name)
    params = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for key, b in model.named_buffers() if key.endswith(("running_mean", "running_var")))
    return params, stats


def timm_macs(name, size):
    """Multiply-accumulates of one forward pass on one size x size image: conv and linear layers."""
    model = timm_model(name)
    total = []

    def hook(module, inputs, output):
        per_position = math.prod(module.weight.shape)  # (out, in/groups, *kernel) or (out, in)
        positions = output.numel() // output.shape[0] // module.weight.shape[0]
        total.append(per_position * positions)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear))]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, size, size))
    finally:
        for handle in handles:
            handle.remove()
    return sum(total)
