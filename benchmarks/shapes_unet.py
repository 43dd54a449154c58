"""A U-Net with an SE backbone learns the synthetic shapes (issue 13): mean IoU on held-out images.

    python -m benchmarks.shapes_unet [--backbone seresnet18] [--attention scse] [--train 2048] [--val 256]
        [--epochs 6] [--size 64] [--batch 16] [--threads 2] [--json unet.json]

`keras_senet.shapes.make_shapes` generates the training images (seed 0) and the validation images (seed
1, never trained on); the model is `keras_senet.segmentation.UNet(backbone, classes=6)` (background and
the five shapes) with random weights (``weights=None``: nothing downloaded), trained with Adam on
softmax cross-entropy. The score is Keras' own `keras.metrics.MeanIoU` over the six classes on the
validation images, with per-class IoU beside it. Not a timed test: it prints the wall time.
"""

import argparse
import json
import os
import time


def _arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="seresnet18")
    parser.add_argument("--attention", default="scse", help="decoder attention (or 'none')")
    parser.add_argument("--train", type=int, default=2048)
    parser.add_argument("--val", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the figures here")
    return parser.parse_args(argv)


def main(argv=None):
    args = _arguments(argv)
    for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[variable] = str(args.threads)
    import keras
    import numpy as np

    import keras_senet as ks
    from keras_senet.shapes import CLASSES, make_shapes

    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    train = make_shapes(args.train, size=args.size, seed=0)
    val = make_shapes(args.val, size=args.size, seed=1)

    def inputs(images):
        return ks.preprocess_input(images.astype("float32"), model=args.backbone)

    attention = None if args.attention == "none" else args.attention
    model = ks.segmentation.UNet(args.backbone, classes=len(CLASSES) + 1, decoder_attention=attention,
                                 input_shape=(args.size, args.size, 3))
    steps = args.epochs * -(-args.train // args.batch)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, steps, warmup_target=None)
    model.compile(keras.optimizers.Adam(schedule),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    history = model.fit(inputs(train.images), train.masks, batch_size=args.batch, epochs=args.epochs,
                        verbose=2)
    predicted = np.argmax(model.predict(inputs(val.images), batch_size=64, verbose=0), axis=-1)
    metric = keras.metrics.MeanIoU(num_classes=len(CLASSES) + 1)
    metric.update_state(val.masks, predicted)
    matrix = keras.ops.convert_to_numpy(metric.total_cm).astype("float64")  # rows: truth, columns: prediction
    iou = np.diag(matrix) / (matrix.sum(0) + matrix.sum(1) - np.diag(matrix))
    result = {
        "backbone": args.backbone, "decoder_attention": attention, "train_images": args.train,
        "val_images": args.val, "size": args.size, "epochs": args.epochs,
        "final_train_loss": float(history.history["loss"][-1]),
        "mean_iou": float(metric.result()), "pixel_accuracy": float(np.trace(matrix) / matrix.sum()),
        "iou": dict(zip(("background",) + CLASSES, map(float, iou))),
        "parameters": int(model.count_params()), "wall_s": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)
    return result


if __name__ == "__main__":
    main()
