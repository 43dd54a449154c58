"""Does SE help a keras.applications CNN? `add_attention` measured on the quickstart's digits (issue 15).

    python -m benchmarks.add_attention_digits [--model small_resnet|mobilenetv2|...] [--seeds 0,1,2] [--epochs 12]
        [--attention se] [--workdir DIR] [--json out.json]
    python -m benchmarks.add_attention_digits --overhead      # parameters and MACs added, at 224x224

Per seed: the model (default: a small CIFAR-style ResNet written in plain Keras; or a keras.applications
model) is built with random weights (`keras.utils.set_random_seed(seed)`),
then trained twice with the same recipe (`keras_senet.training.finetune`, one phase, AdamW, cosine decay,
label smoothing 0.1, the quickstart's augmentation) on scikit-learn's 8x8 digits at 32x32 (1,437
training / 360 test images, `keras_senet.quickstart.write_digits`): as it is, and with SE blocks
inserted by `add_attention(model, attention)` into the very same initial weights. The test accuracy after
the last epoch is reported per seed, with the paired difference, and beside it the accuracy with
BatchNorm on the test batch's own statistics (a diagnostic of BatchNorm moving-average lag in short runs,
not a fair score). Training time is wall time on this machine (say whether it was busy).
"""

import argparse
import json
import os
import tempfile
import time

SIZE = 32
MODELS = {
    # name -> keras.applications constructor and its options (random weights, 10 classes, SIZE x SIZE);
    # "small_resnet" is `small_resnet` below, a user's own model (cheap enough for a shared CPU)
    "small_resnet": (None, {}),
    "mobilenetv2": ("MobileNetV2", {"alpha": 0.35}),
    "resnet50": ("ResNet50", {}),
    "resnet50v2": ("ResNet50V2", {}),
    "efficientnetb0": ("EfficientNetB0", {}),
    "densenet121": ("DenseNet121", {}),
    "vgg16": ("VGG16", {}),
}
# (constructor, options) of the models whose overhead is tabled: issue 15's list, at their ImageNet size.
OVERHEAD = (("ResNet50", {}), ("ResNet101", {}), ("ResNet50V2", {}), ("MobileNetV2", {}), ("EfficientNetB0", {}),
            ("DenseNet121", {}), ("VGG16", {}))


def small_resnet(size, classes, widths=(16, 32, 64), blocks=2):
    """A CIFAR-style ResNet (He et al. 2016, section 4.2) in plain Keras: a 3x3 stem, then `blocks` basic
    residual blocks per stage (the first of a later stage strided, with a 1x1 projection), 0.2M parameters."""
    import keras
    from keras import layers

    def conv_bn(x, channels, stride, name, relu=True, kernel=3):
        x = layers.Conv2D(channels, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x) if relu else x

    inputs = keras.Input((size, size, 3))
    x = conv_bn(inputs, widths[0], 1, "stem")
    for stage, channels in enumerate(widths, 1):
        for block in range(blocks):
            name = f"stage{stage}_block{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            shortcut = x if stride == 1 and x.shape[-1] == channels else conv_bn(
                x, channels, stride, f"{name}_proj", relu=False, kernel=1)
            y = conv_bn(x, channels, stride, f"{name}_1")
            y = conv_bn(y, channels, 1, f"{name}_2", relu=False)
            x = layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax", name="head")(x), name="small_resnet")


def build(name, size, classes):
    import keras

    constructor, options = MODELS[name]
    if constructor is None:
        return small_resnet(size, classes)
    return getattr(keras.applications, constructor)(weights=None, input_shape=(size, size, 3), classes=classes,
                                                    **options)


def train(model, train_data, test_data, epochs, workdir):
    """(test accuracy, test accuracy with BatchNorm on the test batch's statistics, seconds)."""
    from keras_senet.training import finetune

    start = time.perf_counter()
    result = finetune(model, train_data, test_data, 10, workdir=workdir, head_epochs=0, epochs=epochs, lr=3e-3,
                      tensorboard=False, keep_checkpoints=0, overwrite=True, verbose=0)
    seconds = time.perf_counter() - start
    return result.history["val_accuracy"][-1], batch_statistics_accuracy(result.model, test_data), seconds


def batch_statistics_accuracy(model, data):
    """Accuracy with every BatchNorm normalising by the statistics of the whole test split, run as one batch
    (``training=True``, on a copy of the model so its moving statistics stay as trained): a diagnostic of
    moving-average lag, which short runs with Keras' default BatchNorm momentum (0.99) suffer from; not a
    fair test score. One batch of all classes: the test batches are in class order, and a batch of one or
    two classes has statistics of its own."""
    import keras
    import numpy as np

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    batches = list(data)
    images = np.concatenate([np.asarray(x) for x, _ in batches])
    labels = np.concatenate([np.asarray(y) for _, y in batches])
    predicted = np.asarray(keras.ops.convert_to_numpy(copy(images, training=True))).argmax(-1)
    return float((predicted == labels).mean())


def rescore(root, seeds, labels):
    """`batch_statistics_accuracy` of the saved ``run-<seed>-<label>/model.keras`` models of an earlier run."""
    import keras

    from keras_senet.data import load_dataset

    test = load_dataset(os.path.join(root, "digits"), "test", model="resnet50", input_size=SIZE, batch_size=64,
                        training=False, crop_pct=1.0)
    for seed in seeds:
        for label in labels:
            model = keras.saving.load_model(os.path.join(root, f"run-{seed}-{label}", "model.keras"))
            print(f"seed {seed} {label:<9} with batch statistics {batch_statistics_accuracy(model, test) * 100:.2f}%")


def compare(args):
    import keras

    from keras_senet.analysis import add_attention, attention_overhead
    from keras_senet.data import load_dataset
    from keras_senet.quickstart import write_digits

    root = args.workdir or tempfile.mkdtemp(prefix="add_attention_digits-")
    digits = write_digits(os.path.join(root, "digits"))
    rows = []
    for seed in args.seeds:
        options = dict(model="resnet50", input_size=SIZE, batch_size=64, crop_pct=1.0, flip=False,
                       crop_scale=(0.6, 1.0), cache=True)
        train_data = load_dataset(digits, "train", training=True, seed=seed, **options)
        test_data = load_dataset(digits, "test", training=False, class_names=train_data.class_names, **options)
        keras.utils.set_random_seed(seed)
        original = build(args.model, SIZE, 10)
        with_attention = add_attention(original, args.attention)  # the same initial weights, plus SE
        overhead = attention_overhead(original, with_attention)
        accuracy, batch_stats, seconds = {}, {}, {}
        for label, model in (("original", original), (args.attention, with_attention)):
            accuracy[label], batch_stats[label], seconds[label] = train(
                model, train_data, test_data, args.epochs, os.path.join(root, f"run-{seed}-{label}"))
            print(f"seed {seed} {label:<9} test accuracy {accuracy[label] * 100:.2f}% (with batch statistics "
                  f"{batch_stats[label] * 100:.2f}%, {seconds[label]:.0f} s)", flush=True)
        rows.append({"seed": seed, "accuracy": accuracy, "batch_statistics_accuracy": batch_stats,
                     "seconds": seconds, **overhead})
    print()
    print(table(rows, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "attention": args.attention, "epochs": args.epochs, "rows": rows}, f,
                      indent=1)


def table(rows, args):
    import numpy as np

    first = rows[0]
    lines = [f"{args.model} at {SIZE}x{SIZE}, {args.epochs} epochs, + {args.attention}: {first['blocks']} blocks, "
             f"+{first['params_added'] / first['params']:.1%} parameters, "
             f"+{first['macs_added'] / first['macs']:.1%} MACs",
             f"{'':>4} {'test accuracy':^31} {'with batch statistics':^31}",
             f"{'seed':>4} {'original':>9} {'+' + args.attention:>9} {'difference':>11} "
             f"{'original':>9} {'+' + args.attention:>9} {'difference':>11} {'time ratio':>10}"]
    differences = {"accuracy": [], "batch_statistics_accuracy": []}
    for row in rows:
        cells = []
        for key in differences:
            a, b = row[key]["original"], row[key][args.attention]
            differences[key].append(b - a)
            cells.append(f"{a * 100:>8.2f}% {b * 100:>8.2f}% {(b - a) * 100:>+9.2f}pp")
        ratio = row["seconds"][args.attention] / row["seconds"]["original"]
        lines.append(f"{row['seed']:>4} {cells[0]} {cells[1]} {ratio:>9.2f}x")
    cells = []
    for key, values in differences.items():
        means = [np.mean([row[key][label] for row in rows]) for label in ("original", args.attention)]
        cells.append(f"{means[0] * 100:>8.2f}% {means[1] * 100:>8.2f}% {np.mean(values) * 100:>+9.2f}pp")
    lines.append(f"{'mean':>4} {cells[0]} {cells[1]}")
    return "\n".join(lines)


def overhead_table(attention):
    import keras

    from keras_senet.analysis import add_attention, attention_overhead

    lines = [f"{'model (224x224)':<16} {'blocks':>6} {'parameters':>12} {'+' + attention:>11} {'GMACs':>7} "
             f"{'+' + attention:>9}"]
    for constructor, options in OVERHEAD:
        model = getattr(keras.applications, constructor)(weights=None, **options)
        o = attention_overhead(model, add_attention(model, attention))
        lines.append(f"{constructor:<16} {o['blocks']:>6} {o['params'] / 1e6:>11.2f}M "
                     f"{o['params_added'] / o['params']:>+10.1%} {o['macs'] / 1e9:>7.2f} "
                     f"{o['macs_added'] / o['macs']:>+8.2%}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="small_resnet", choices=sorted(MODELS))
    parser.add_argument("--attention", default="se", help="a name of keras_senet.layers.list_attention()")
    parser.add_argument("--seeds", default="0,1,2", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--workdir", default=None, help="digits and runs (default: a new temporary folder)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--overhead", action="store_true", help="only the parameter / MAC table of the models")
    parser.add_argument("--rescore", action="store_true",
                        help="only the batch-statistics diagnostic of the models an earlier run saved in --workdir")
    args = parser.parse_args(argv)
    if args.overhead:
        print(overhead_table(args.attention))
    elif args.rescore:
        rescore(args.workdir, args.seeds, ("original", args.attention))
    else:
        compare(args)


if __name__ == "__main__":
    main()
