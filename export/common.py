"""Shared by the runners: image files -> model input, and the printed result."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout


def load_images(paths, size, model="seresnet50", normalise=True):
    """Image files through the model's eval transform (`keras_senet.preprocessing.load_images`):
    float32 ``(n, size, size, 3)``, normalised unless `normalise` is False (an export with built-in
    preprocessing takes [0, 255] pixels). `model`: a registry name or ``name.tag``."""
    from keras_senet.preprocessing import load_images as transform_images, preprocessing_of

    return transform_images(paths, preprocessing_of(model, input_size=size), normalise=normalise)


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
