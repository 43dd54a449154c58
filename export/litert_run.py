"""Classify images with a .tflite export in the LiteRT interpreter, as an app on a device would.

    python export/litert_run.py model.tflite image.jpg [image2.png ...] [--threads 4] [--model NAME]
"""

import argparse

from common import classify


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_file", help=".tflite file (from keras-senet export --format tflite)")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the interpreter")
    parser.add_argument("--model", default=None, help="registry NAME[.TAG] whose preprocessing to use")
    parser.add_argument("--pixels", action="store_true",
                        help="the export takes [0, 255] pixels (exported with --include-preprocessing)")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)

    from keras_senet.export import load_exported

    predict = load_exported(args.model_file, num_threads=args.threads)
    return classify(predict, args)


if __name__ == "__main__":
    raise SystemExit(main())
