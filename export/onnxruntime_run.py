"""Classify images with a .onnx export in onnxruntime on the chosen execution provider.

    python export/onnxruntime_run.py model.onnx image.jpg [...] [--provider cpu|cuda|tensorrt]
"""

import argparse

from common import classify

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def providers_for(name):
    """onnxruntime providers for `name`; a clear error when its first provider is not installed."""
    import onnxruntime

    wanted = PROVIDERS[name]
    available = onnxruntime.get_available_providers()
    if wanted[0] not in available:
        raise SystemExit(f"--provider {name}: {wanted[0]} is not available in this onnxruntime "
                         f"({', '.join(available)}); install onnxruntime-gpu for cuda/tensorrt")
    return wanted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_file", help=".onnx file (from keras-senet export --format onnx)")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--provider", choices=sorted(PROVIDERS), default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", default=None, help="registry NAME[.TAG] whose preprocessing to use")
    parser.add_argument("--pixels", action="store_true",
                        help="the export takes [0, 255] pixels (exported with --include-preprocessing)")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)

    from keras_senet.export import load_exported

    predict = load_exported(args.model_file, providers=providers_for(args.provider), num_threads=args.threads)
    return classify(predict, args)


if __name__ == "__main__":
    raise SystemExit(main())
