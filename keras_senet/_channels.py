"""Channel-count arithmetic shared by the attention layers and the model specs (timm's, no Keras import)."""


def make_divisible(v, divisor=8, min_value=None, round_limit=0.9):
    """Round `v` to a multiple of `divisor` (same arithmetic as timm.layers.make_divisible).

    Args:
        v: value to round (e.g. `channels * rd_ratio`).
        divisor: the result is a multiple of this. Default 8.
        min_value: lower bound of the result; None (default) means `divisor`.
        round_limit: if rounding down lost more than `1 - round_limit` of `v`,
            add one `divisor`. Default 0.9; the attention layers use 0.0.

    Returns:
        int, a multiple of `divisor`, at least `min_value`.
    """
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


def round_channels(channels, multiplier=1.0, divisor=8, channel_min=None, round_limit=0.9):
    """timm's ``round_channels``: `channels` times the width `multiplier`, then `make_divisible`
    (a falsy multiplier returns `channels` unchanged)."""
    if not multiplier:
        return channels
    return make_divisible(channels * multiplier, divisor, channel_min, round_limit=round_limit)
