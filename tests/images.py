"""Test images shared by the test modules: uint8 pictures and normalised float inputs."""

import numpy as np


def smooth_images(count, height, width, seed=0):
    """uint8 RGB images of smooth random colour fields: resampling methods agree on them to about one
    grey level (white noise would make antialiasing differences dominate any comparison)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    images = []
    for _ in range(count):
        a, b, c = rng.uniform(0, 6, 3), rng.uniform(0, 6, 3), rng.uniform(0, 2 * np.pi, 3)
        channels = [127.5 + 110 * np.sin(a[i] * xx + b[i] * yy + c[i]) for i in range(3)]
        images.append(np.stack(channels, -1))
    return np.round(np.stack(images)).astype("uint8")


def normal_images(count, size, seed=0):
    """float32 ``(count, size, size, 3)`` standard-normal "images": already-normalised model inputs."""
    return np.random.default_rng(seed).standard_normal((count, size, size, 3)).astype("float32")


def assert_picture(path, min_side=200):
    """`path` is a real picture: a PNG of at least `min_side` pixels a side with more than 20 distinct colours
    (not a blank or single-colour canvas). Returns the image array."""
    from matplotlib.image import imread

    image = imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= min_side, image.shape
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 20
    return image
