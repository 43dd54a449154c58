"""`keras-senet quickstart`: fine-tune, test and export a small SE-ResNet offline, in minutes on a CPU.

scikit-learn ships 1,797 real 8x8 handwritten digits; they are written as an image folder
(``digits/{train,test}/<digit>/*.png``, 80/20 stratified), and a randomly initialised SE-ResNet-18 is
trained on them at 32x32 through the library's own path (`keras_senet.data.load_dataset` ->
`keras_senet.training.finetune`). The model is then exported as SavedModel, TFLite int8 and ONNX
(`keras_senet.export`), each export is scored on the test split in its own runtime, and one table
(format, size, accuracy, latency) is printed; with matplotlib the run folder also gets ``learning_curves.png``
and ``confusion_matrix.png`` beside ``history.json``. ``data=``/``model=``/``weights=`` switch it to a real
dataset and pretrained weights. Needs scikit-learn for the digits (the ``quickstart`` extra).
"""

from __future__ import annotations

import os
import shutil
import time

from keras_senet._deprecation import reject_unknown, renamed
from keras_senet.export.targets import FORMATS, TARGETS

# The digits recipe: measured >= 97% test accuracy in well under 5 minutes on 2 CPU cores.
DIGITS = dict(model="seresnet18", weights=None, input_size=32, batch_size=64, head_epochs=0, epochs=12,
              lr=3e-3, crop_pct=1.0, flip=False, crop_scale=(0.6, 1.0))


def write_digits(root, *, test_fraction=0.2, seed=0):
    """Write scikit-learn's digits as PNGs: ``root/{train,test}/<digit>/<index>.png``. Returns `root`.

    Grey levels 0..16 become 0..255 (8x8, one channel). The split is stratified and fixed by `seed`.
    An existing complete folder is reused; the folder appears only when fully written.
    """
    import numpy as np
    import tensorflow as tf

    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:
        raise ImportError("The quickstart's digits need scikit-learn: pip install 'keras-senet[quickstart]' "
                          "(or pass data=... for another dataset).") from error
    root = os.path.abspath(os.fspath(root))
    if os.path.exists(os.path.join(root, ".complete")):
        return root
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).clip(0, 255).astype("uint8")[..., None]
    index = np.arange(len(images))
    train, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=digits.target)
    tmp = f"{root}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for split, indices in (("train", train), ("test", test)):
        for i in indices:
            folder = os.path.join(tmp, split, str(digits.target[i]))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:04d}.png"), "wb") as f:
                f.write(tf.io.encode_png(images[i]).numpy())
    open(os.path.join(tmp, ".complete"), "w").close()
    if os.path.exists(root):
        shutil.rmtree(root)
    os.replace(tmp, root)
    return root


def _batches(data):
    for images, labels in data:
        yield images.numpy(), labels.numpy()


def _accuracy(predict, data):
    import numpy as np

    correct = total = 0
    for images, labels in _batches(data):
        scores = np.asarray(predict(images))
        correct += int((scores.argmax(-1) == labels).sum())
        total += len(labels)
    return correct / total


def _latency_ms(predict, image, repeats=30):
    """Median wall time of one single-image call, after a warm-up call."""
    import numpy as np

    predict(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(image)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def _size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return os.path.getsize(path)


def _table(rows):
    lines = [f"{'format':<22} {'size':>10} {'test accuracy':>14} {'latency (1 image)':>18}"]
    for name, size, accuracy, latency in rows:
        size_text = f"{size / 2**20:.1f} MiB" if size is not None else "-"
        acc_text = f"{accuracy * 100:.2f}%" if accuracy is not None else "-"
        lat_text = f"{latency:.2f} ms" if latency is not None else "-"
        lines.append(f"{name:<22} {size_text:>10} {acc_text:>14} {lat_text:>18}")
    return "\n".join(lines)


def quickstart(workdir="keras_senet_quickstart", *, data=None, model=None, weights=None, epochs=None,
               head_epochs=None, input_size=None, batch_size=None, train_split="train", test_split="test",
               formats=FORMATS, overwrite=True, verbose="auto", **deprecated):
    """Train, test and export; returns ``{"accuracy": float, "seconds": float, "rows": [...]}``.

    Args:
        workdir: everything goes here: ``digits/``, ``run/`` (finetune's workdir), ``export/``.
        data: None (scikit-learn digits) or a `keras_senet.data.load_dataset` source (``"tfds:NAME"``,
            a folder) with splits `train_split` and `test_split`.
        model, weights: registry name and backbone weights; default ``"seresnet18"``, None for the
            digits, ``"seresnet50"`` with ``"imagenet"`` for other data.
        epochs, head_epochs, input_size, batch_size: override the recipe (``image_size=`` is the
            deprecated 0.1 spelling of ``input_size``).
        formats: exports to make and score (subset of `keras_senet.export.FORMATS`: ``"saved_model"``,
            ``"tflite"``, ``"onnx"``); a format that takes ``quantize="int8"`` (TFLite) is int8-quantised
            with training batches as representative data.
        overwrite: retrain from scratch (default); False resumes an interrupted run in ``workdir/run``
            and refuses a finished one.
        verbose: `model.fit` verbosity.

    ``rows`` are ``(format, size_bytes, accuracy, latency_ms)``, the Keras model first.
    """
    from keras_senet.data import load_dataset
    from keras_senet.training import finetune
    from keras_senet.training.pictures import CONFUSION_MATRIX, LEARNING_CURVES

    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"formats {unknown} not among {', '.join(FORMATS)}")
    start = time.perf_counter()
    workdir = os.path.abspath(os.fspath(workdir))
    if data is None:
        recipe = dict(DIGITS)
        print(f"[1/4] Writing scikit-learn's 8x8 digits as PNG files under {workdir}/digits", flush=True)
        data = write_digits(os.path.join(workdir, "digits"))
        data_options = dict(crop_pct=recipe.pop("crop_pct"), flip=recipe.pop("flip"),
                            crop_scale=recipe.pop("crop_scale"))
    else:
        recipe = dict(model="seresnet50", weights="imagenet", input_size=None, batch_size=32, head_epochs=1,
                      epochs=3, lr=1e-4)
        data_options = {}
        print(f"[1/4] Data: {data}", flush=True)
    if model is not None:
        recipe["model"], recipe["weights"] = model, weights
    elif weights is not None:
        recipe["weights"] = weights
    input_size = renamed("quickstart", deprecated, "image_size", "input_size", input_size)
    reject_unknown("quickstart", deprecated)
    overrides = dict(epochs=epochs, head_epochs=head_epochs, input_size=input_size, batch_size=batch_size)
    recipe.update({k: v for k, v in overrides.items() if v is not None})
    preprocessing = recipe["model"] if recipe["weights"] else recipe["model"].partition(".")[0]
    common = dict(model=preprocessing, input_size=recipe["input_size"], **data_options)
    train = load_dataset(data, train_split, batch_size=recipe["batch_size"], training=True, seed=0, cache=True,
                         **common)
    test = load_dataset(data, test_split, batch_size=recipe["batch_size"], training=False, cache=True,
                        class_names=train.class_names, **common)
    print(f"      {train.num_examples} training / {test.num_examples} test images, {train.num_classes} classes, "
          f"{train.preprocessing.input_size}x{train.preprocessing.input_size} input", flush=True)

    print(f"[2/4] Fine-tuning {recipe['model']} (weights={recipe['weights']}) for "
          f"{recipe['head_epochs']}+{recipe['epochs']} epochs", flush=True)
    result = finetune(recipe["model"], train, test, train.num_classes, weights=recipe["weights"],
                      workdir=os.path.join(workdir, "run"), head_epochs=recipe["head_epochs"],
                      epochs=recipe["epochs"], lr=recipe["lr"], overwrite=overwrite, verbose=verbose)
    model = result.model

    print("[3/4] Scoring the Keras model on the test split", flush=True)
    accuracy = _accuracy(lambda x: model.predict_on_batch(x), test)
    sample = next(_batches(test))[0][:1]
    rows = [("keras (.keras)", _size(result.model_path), accuracy,
             _latency_ms(lambda x: model.predict_on_batch(x), sample))]
    print(f"      test accuracy {accuracy * 100:.2f}% after {time.perf_counter() - start:.0f} s", flush=True)

    if formats:
        print(f"[4/4] Exporting ({', '.join(formats)}) and scoring each export in its own runtime", flush=True)
        rows += _export_rows(model, os.path.join(workdir, "export"), formats, train, test, sample)
    seconds = time.perf_counter() - start
    print()
    print(_table(rows))
    print(f"\nDone in {seconds:.0f} s. Model: {result.model_path}; history: {result.history_path}")
    pictures = [name for name in (LEARNING_CURVES, CONFUSION_MATRIX)
                if os.path.exists(os.path.join(os.path.dirname(result.history_path), name))]
    if pictures:
        print(f"Pictures: {', '.join(pictures)} beside the history; the SE gates per class: keras-senet excitations "
              f"{result.model_path} --data {data} --out excitations.png")
    return {"accuracy": accuracy, "seconds": seconds, "rows": rows, "model_path": result.model_path,
            "class_names": list(train.class_names)}


def _export_rows(model, folder, formats, train, test, sample):
    try:
        from keras_senet.export import ExportError, export, load_exported
    except ImportError as error:
        print(f"      export skipped: {error}", flush=True)
        return []
    representative = train.take(8).map(lambda x, y: x)
    rows = []
    for fmt in formats:
        target = TARGETS[fmt]
        quantize = "int8" if "int8" in target.quantize else None  # the mobile story: as small as it gets
        suffix = target.suffix or ""  # (None: a folder)
        path = os.path.join(folder, f"model_{quantize}{suffix}" if quantize else f"model{suffix}")
        os.makedirs(folder, exist_ok=True)
        label = f"{fmt} ({quantize})" if quantize else fmt
        try:
            report = export(model, path, fmt, quantize=quantize,
                            representative_data=representative if quantize else None, overwrite=True)
        except ExportError as error:  # failed verification: nothing written; say so and go on
            print(f"      {label}: {error}", flush=True)
            rows.append((f"{label} FAILED", None, None, None))
            continue
        predict = load_exported(report.path)
        rows.append((label, report.size_bytes, _accuracy(predict, test), _latency_ms(predict, sample)))
        print(f"      {label}: {report.path}", flush=True)
    return rows
