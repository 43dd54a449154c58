"""timm parity of one registered model without holding two copies of it: for the models the test sweep cannot
hold (tests/test_models.py ``HUGE``; regnety_2560 would peak at ~21 GB there).

    python -m benchmarks.parity_low_memory regnety_2560 [--size 65] [--folder /tmp]

The logits check of ``tests/test_models.py::test_same_function_as_timm``, in stages: timm's model with
non-trivial BatchNorm statistics (``tests/timm_reference.py``) computes its logits on the sweep's odd-sized
input and writes its state dict to a safetensors file; timm's model is freed; ours is built with ``weights=``
that file (the real read, conversion and assignment path of local checkpoints) and computes its logits.
Prints the max difference relative to max |logit|, the top-1 agreement, each stage's time and the peak
resident memory; exit status 1 when the difference is over 1e-4 x max |logit| or a top-1 differs.
"""

import argparse
import gc
import os
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import torch  # noqa: E402,F401  (torch and timm before TensorFlow: see tests/conftest.py)
import timm  # noqa: E402,F401


def _peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # kB -> GiB


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parity_low_memory", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="registered model name")
    parser.add_argument("--size", type=int, default=65, help="square input side (default 65, the sweep's)")
    parser.add_argument("--folder", default=None, help="where the state dict file goes (default: a temp folder)")
    args = parser.parse_args(argv)

    import safetensors.torch

    from images import normal_images
    from timm_reference import timm_logits, timm_model_with_statistics

    images = normal_images(2, args.size, seed=1)
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        path = os.path.join(folder, f"{args.name}.safetensors")
        start = time.perf_counter()
        reference = timm_model_with_statistics(args.name)
        expected = timm_logits(reference, images)
        safetensors.torch.save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, path)
        del reference
        gc.collect()
        print(f"timm: logits and {os.path.getsize(path) / 2 ** 30:.2f} GiB state dict in "
              f"{time.perf_counter() - start:.0f} s, peak {_peak_gb():.1f} GiB", flush=True)

        import keras

        import keras_senet as ks

        start = time.perf_counter()
        model = ks.create_model(args.name, weights=path, input_shape=(args.size, args.size, 3),
                                classifier_activation=None)
        out = keras.ops.convert_to_numpy(model(images, training=False))
    diff = float(abs(out - expected).max() / abs(expected).max())
    same_top1 = bool((out.argmax(-1) == expected.argmax(-1)).all())
    print(f"keras-senet: built and loaded in {time.perf_counter() - start:.0f} s, peak {_peak_gb():.1f} GiB")
    print(f"{args.name}: max |ours - timm| / max |timm| = {diff:.1e} (limit 1e-4), same top-1: {same_top1}")
    return 0 if diff <= 1e-4 and same_top1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
