"""Classify images with a .tflite export in the LiteRT interpreter, as an app on a device would.

    python export/litert_run.py model.tflite image.jpg [image2.png ...] [--threads 4] [--model NAME]
        [--delegate xnnpack|gpu|nnapi|edgetpu]

--delegate runs the model on that LiteRT delegate (default xnnpack, the CPU); a delegate whose library
is not on this machine (the GPU and NNAPI delegates are Android's) is a clear error, exit status 2.
"""

import argparse
import sys

from common import classify
from keras_senet.export.runtimes import DELEGATES


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_file", help=".tflite file (from keras-senet export --format tflite)")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the interpreter")
    parser.add_argument("--model", default=None, help="registry NAME[.TAG] whose preprocessing to use")
    parser.add_argument("--pixels", action="store_true",
                        help="the export takes [0, 255] pixels (exported with --include-preprocessing)")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--delegate", choices=list(DELEGATES), default="xnnpack",
                        help="LiteRT delegate (default xnnpack: the CPU)")
    args = parser.parse_args(argv)

    from keras_senet.export import load_exported
    from keras_senet.export.runtimes import DelegateUnavailable

    try:
        predict = load_exported(args.model_file, num_threads=args.threads, delegate=args.delegate)
    except DelegateUnavailable as error:
        print(f"--delegate {args.delegate}: {error}", file=sys.stderr)
        return 2
    return classify(predict, args)


if __name__ == "__main__":
    raise SystemExit(main())
