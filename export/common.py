"""Shared by the runners: image files -> model input, and the printed result."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout


def load_images(paths, size, model="seresnet50", normalise=True):
    """RGB images resized (shorter side to size / crop_pct, the model config's interpolation), centre-
    cropped to ``size x size``: float32 ``(n, size, size, 3)``, normalised unless `normalise` is False
    (an export with built-in preprocessing takes [0, 255] pixels)."""
    import PIL.Image

    import keras_senet as ks
    from keras_senet.data import preprocessing_config

    config = preprocessing_config(model, image_size=size)
    resample = {"bicubic": PIL.Image.BICUBIC, "bilinear": PIL.Image.BILINEAR}.get(config.interpolation,
                                                                                     PIL.Image.BILINEAR)
    scale = int(size / config.crop_pct)
    images = []
    for path in paths:
        image = PIL.Image.open(path).convert("RGB")
        width, height = image.size
        ratio = scale / min(width, height)
        image = image.resize((max(scale, round(width * ratio)), max(scale, round(height * ratio))), resample)
        left, top = (image.size[0] - size) // 2, (image.size[1] - size) // 2
        images.append(np.asarray(image.crop((left, top, left + size, top + size)), "float32"))
    images = np.stack(images)
    return ks.preprocess_input(images, model=model) if normalise else images


def print_predictions(paths, outputs, top=5):
    """Top classes per image: ImageNet names for 1000-way outputs, class indices otherwise."""
    import keras_senet as ks

    for path, row in zip(paths, outputs):
        print(path)
        if row.shape[-1] == 1000:
            for _, name, score in ks.decode_predictions(row[None], top=top)[0]:
                print(f"  {score:8.4f}  {name}")
        else:
            for index in np.argsort(row)[::-1][:top]:
                print(f"  {row[index]:8.4f}  class {index}")


def classify(predict, args):
    """Run `predict` (from load_exported) on the runner's image files, print the timing and the top classes."""
    import time

    size = predict.input_shape[1]
    images = load_images(args.images, size, model=args.model or "seresnet50", normalise=not args.pixels)
    start = time.perf_counter()
    outputs = predict(images)
    print(f"{predict.runtime}: {len(images)} image(s) in {(time.perf_counter() - start) * 1000:.1f} ms")
    print_predictions(args.images, outputs, top=args.top)
    return 0
