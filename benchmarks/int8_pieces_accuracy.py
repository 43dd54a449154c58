"""TensorFlow's int8 converted whole and in pieces, on a trained network: does cutting change the accuracy?

    keras-senet quickstart --workdir WORKDIR --no-export      # a trained digits SE-ResNet-18 (about 3 minutes)
    python -m benchmarks.int8_pieces_accuracy --workdir WORKDIR [--pieces 1 3] [--json F]

Each count of pieces is one `export_from_source(WORKDIR/run/model.keras, ..., low_memory=True, pieces=N,
quantize="int8")`, calibrated on the training split's folder (as ``--calibration`` does); each file is then scored
in LiteRT on the held-out test split with the quickstart's own preprocessing. Prints, per count: test accuracy,
top-1 agreement with the Keras model and with the first count's file, the largest and the mean difference of
the probabilities from Keras', the QUANTIZE ops the joins added, file size,
LiteRT latency of one image (the export report's median) and the export's time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def _test_split(workdir):
    """The quickstart's held-out test images (its own eval preprocessing) and labels, as NumPy arrays."""
    import numpy as np

    from keras_senet.data import load_dataset
    from keras_senet.quickstart import DIGITS

    test = load_dataset(os.path.join(workdir, "digits"), "test", batch_size=64, training=False,
                        model=DIGITS["model"], input_size=DIGITS["input_size"], crop_pct=DIGITS["crop_pct"],
                        flip=DIGITS["flip"], crop_scale=DIGITS["crop_scale"])
    pairs = [(x.numpy(), y.numpy()) for x, y in test]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def measure(workdir, counts, log=print):
    """One row a count of pieces (dicts), and the Keras model's accuracy."""
    import keras
    import numpy as np

    from keras_senet.export import load_exported
    from keras_senet.export.from_source import export_from_source

    source = os.path.join(workdir, "run", "model.keras")
    images, labels = _test_split(workdir)
    keras_probs = np.asarray(keras.models.load_model(source).predict(images, verbose=0))
    keras_top1 = keras_probs.argmax(-1)
    log(f"keras: test accuracy {np.mean(keras_top1 == labels):.4f} on {len(labels)} images")
    rows, whole_top1 = [], None
    with tempfile.TemporaryDirectory(prefix="int8_pieces_") as folder:
        for count in counts:
            path = os.path.join(folder, f"int8_{count}.tflite")
            start = time.perf_counter()
            report = export_from_source(source, path, "tflite", weights=None, low_memory=True, pieces=count,
                                        quantize="int8", calibration=os.path.join(workdir, "digits", "train"))
            seconds = time.perf_counter() - start
            probs = np.asarray(load_exported(path)(images))
            top1 = probs.argmax(-1)
            whole_top1 = top1 if whole_top1 is None else whole_top1
            rows.append({"pieces": report.pieces, "test_accuracy": float(np.mean(top1 == labels)),
                         "agreement_with_keras": float(np.mean(top1 == keras_top1)),
                         "agreement_with_first": float(np.mean(top1 == whole_top1)),
                         "max_prob_diff_vs_keras": float(np.abs(probs - keras_probs).max()),
                         "mean_prob_diff_vs_keras": float(np.abs(probs - keras_probs).mean()),
                         "quantize_ops": report.ops.get("QUANTIZE", 0), "file_mib": report.size_bytes / 2 ** 20,
                         "latency_ms": report.latency_ms, "export_s": round(seconds, 1)})
            log(json.dumps(rows[-1]))
    return rows, float(np.mean(keras_top1 == labels))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a `keras-senet quickstart --workdir` folder")
    parser.add_argument("--pieces", nargs="+", type=int, default=[1, 3],
                        help="counts of pieces to convert in (default: 1 3; the first is the reference)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.workdir, "run", "model.keras")):
        parser.error(f"--workdir {args.workdir}: no run/model.keras; run `keras-senet quickstart --workdir "
                     f"{args.workdir} --no-export` first")
    rows, keras_accuracy = measure(args.workdir, args.pieces)
    print(f"{'pieces':>6} {'test acc':>9} {'= keras':>8} {'= first':>8} {'max dp':>7} {'mean dp':>8} {'QUANTIZE':>9} "
          f"{'MiB':>6} {'ms':>6} {'s':>6}")
    for row in rows:
        print(f"{row['pieces']:>6} {row['test_accuracy']:>9.4f} {row['agreement_with_keras']:>8.4f} "
              f"{row['agreement_with_first']:>8.4f} {row['max_prob_diff_vs_keras']:>7.4f} "
              f"{row['mean_prob_diff_vs_keras']:>8.5f} {row['quantize_ops']:>9} {row['file_mib']:>6.1f} "
              f"{row['latency_ms']:>6.2f} {row['export_s']:>6.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"keras_test_accuracy": keras_accuracy, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
