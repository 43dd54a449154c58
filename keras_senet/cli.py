"""`keras-senet` console script: argument parsing over the library, nothing else."""

from __future__ import annotations

import argparse
import json
import sys


def _cmd_list(args):
    from keras_senet import zoo

    names = zoo.list_models(args.pattern, pretrained=args.pretrained)
    if args.verbose:
        width = max((len(n) for n in names), default=0)
        for name in names:
            entry = zoo.get_entry(name)
            print(f"{name:<{width}}  {entry.default_size:>3}px  {entry.family.describe(entry.spec)}")
    else:
        print("\n".join(names))
    if not names:
        print(f"no model matches {args.pattern!r}" if args.pattern else "no models", file=sys.stderr)
        return 1
    return 0


def _cmd_info(args):
    from keras_senet.info import model_info

    info = model_info(args.model, input_size=args.input_size)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    rows = [
        ("model", info["name"]),
        ("parameters", f"{info['params']:,} ({info['trainable_params']:,} trainable, "
                       f"{info['non_trainable_params']:,} BatchNorm statistics)"),
        ("compute", f"{info['gmacs']:.2f} GMACs = {info['gflops']:.2f} GFLOPs at "
                    f"{info['input_size'][0]}x{info['input_size'][1]}"),
        ("default input", f"{info['default_size']}x{info['default_size']}, {info['interpolation']}, "
                          f"crop_pct {info['crop_pct']}"),
        ("normalisation", f"mean {info['mean']}, std {info['std']}"),
        ("features", info["num_features"]),
        ("paper", info["paper"]),
    ]
    for key, value in rows:
        print(f"{key:<14} {value}")
    return 0


def _cmd_convert(args):
    from keras_senet.conversion import convert_checkpoint

    output, classes = convert_checkpoint(args.model, args.checkpoint, args.output, overwrite=args.overwrite)
    print(f"wrote {output} ({args.model}, {classes} classes)")
    return 0


def _cmd_train(args):
    from keras_senet.data import load_dataset
    from keras_senet.training import finetune, make_strategy

    strategy = make_strategy(args.strategy)  # before any dataset: collective ops are configured once
    batch = args.batch_size * strategy.num_replicas_in_sync
    weights = _weights(args.weights)
    preprocessing = args.model if weights else args.model.partition(".")[0]
    options = dict(model=preprocessing, input_size=args.input_size, cache=args.cache, seed=args.seed)
    train = load_dataset(args.data, args.train_split, batch_size=batch, training=True, flip=not args.no_flip,
                         **options)
    val = None
    if args.val_split:
        val = load_dataset(args.data, args.val_split, batch_size=batch, training=False,
                           class_names=train.class_names, **options)
    result = finetune(args.model, train, val, args.num_classes or train.num_classes, weights=weights,
                      workdir=args.workdir, head_epochs=args.head_epochs, epochs=args.epochs, head_lr=args.head_lr,
                      lr=args.lr, weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
                      unfreeze=args.unfreeze,
                      freeze_batchnorm=args.freeze_batchnorm, dropout=args.dropout,
                      mixed_precision=args.mixed_precision or False, jit_compile=args.jit_compile,
                      strategy=strategy, keep_checkpoints=args.keep_checkpoints, overwrite=args.overwrite,
                      verbose=args.verbose)
    if result.model_path:
        print(f"wrote {result.model_path} and {result.history_path}")
    return 0


def _cmd_evaluate(args):
    from keras_senet.data import load_dataset
    from keras_senet.training import evaluate, load_model, saved_preprocessing

    model = load_model(args.model, weights=_weights(args.weights))
    # The model carries its preprocessing (a finetune run's: as its images were trained on); folders
    # of keras-senet 0.1 runs have it in preprocessing.json beside the file.
    preprocessing = model
    if getattr(model, "preprocessing", None) is None and args.model.endswith(".keras"):
        preprocessing = saved_preprocessing(args.model) or model
    data = load_dataset(args.data, args.split, model=preprocessing, batch_size=args.batch_size, training=False,
                        input_size=args.input_size)
    scores = evaluate(model, data, top_k=5)
    print(f"top-1 {scores['top1'] * 100:.2f}%  top-5 {scores['top5'] * 100:.2f}%  ({scores['examples']} images, "
          f"{args.data} {args.split})")
    return 0


def _cmd_excitations(args):
    from keras_senet.analysis import excitations
    from keras_senet.data import load_dataset
    from keras_senet.training import load_model, saved_preprocessing

    model = load_model(args.model, weights=_weights(args.weights))
    preprocessing = model
    if getattr(model, "preprocessing", None) is None and args.model.endswith(".keras"):
        preprocessing = saved_preprocessing(args.model) or model
    data = load_dataset(args.data, args.split, model=preprocessing, batch_size=args.batch_size, training=False,
                        input_size=args.input_size)
    result = excitations(model, data, max_examples=args.max_examples)
    print(result.table())
    if args.json:
        result.to_json(args.json)
        print(f"wrote {args.json}")
    result.plot(args.out, max_channels=args.channels)
    print(f"wrote {args.out}")
    return 0


def _cmd_quickstart(args):
    from keras_senet.quickstart import quickstart

    formats = [] if args.no_export else args.formats.split(",")
    weights = _weights(args.weights)
    quickstart(args.workdir, data=args.data, model=args.model, weights=weights, epochs=args.epochs, formats=formats,
               train_split=args.train_split, test_split=args.test_split, verbose=args.verbose)
    return 0


def _unfreeze(value):
    if value == "all":
        return value
    try:
        stages = int(value)
    except ValueError:
        stages = -1
    if stages < 0:
        raise argparse.ArgumentTypeError(f"--unfreeze must be 'all' or a number of top stages (an integer >= 0; "
                                         f"0 keeps the backbone frozen), got {value!r}")
    return stages


def _verbose(value):
    return value if value == "auto" else int(value)


WEIGHTS_HELP = ("weights of a registry model: imagenet (default), a tag, a file, a URL, or none (random); "
                "a .keras file has its own")


def _weights(value):
    return None if value in (None, "none") else value


def _add_input_size(parser):
    # --image-size: the 0.1 spelling, kept one release (CHANGELOG).
    parser.add_argument("--input-size", "--image-size", dest="input_size", type=int, default=None,
                        help="square input side in pixels (default: the model's)")


def _add_training_parsers(sub):
    from keras_senet.export.targets import FORMATS

    p = sub.add_parser("train", help="fine-tune a model on a TFDS dataset or an image folder")
    p.add_argument("--data", required=True, help="'tfds:NAME' or a folder of class sub-folders")
    p.add_argument("--model", default="seresnet50", help="registry name, optionally NAME.TAG (default seresnet50)")
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--train-split", default="train", help="default 'train' (slices allowed: 'train[:90%%]')")
    p.add_argument("--val-split", default=None, help="validation split, e.g. 'validation' or 'train[90%%:]'")
    p.add_argument("--num-classes", type=int, default=None, help="default: the classes found in the data")
    p.add_argument("--workdir", default="finetune_run", help="checkpoints, logs, model.keras, history.json")
    p.add_argument("--head-epochs", type=int, default=1, help="phase 1 epochs, backbone frozen (default 1)")
    p.add_argument("--epochs", type=int, default=5, help="phase 2 epochs, unfrozen (default 5)")
    p.add_argument("--batch-size", type=int, default=32, help="per replica (default 32)")
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--lr", type=float, default=1e-4, help="phase 2 peak learning rate")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--unfreeze", type=_unfreeze, default="all", help="phase 2: 'all' or the number of top stages")
    p.add_argument("--freeze-batchnorm", action="store_true", help="keep BatchNorm frozen in phase 2")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout before the new head")
    _add_input_size(p)
    p.add_argument("--mixed-precision", nargs="?", const="mixed_float16", default=None,
                   choices=("mixed_float16", "mixed_bfloat16"), help="default policy mixed_float16")
    p.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    p.add_argument("--strategy", default="default", choices=("default", "mirrored", "multi_worker"),
                   help="tf.distribute strategy; multi_worker reads TF_CONFIG")
    p.add_argument("--cache", action="store_true", help="keep decoded images in memory")
    p.add_argument("--no-flip", action="store_true", help="no horizontal flip augmentation")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep-checkpoints", type=int, default=3, help="per-epoch checkpoints kept (default 3)")
    p.add_argument("--overwrite", action="store_true", help="start afresh in a workdir with a finished run")
    p.add_argument("--verbose", type=_verbose, default="auto", help="model.fit verbosity: auto, 0, 1, 2")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="top-1/top-5 accuracy of a model on a dataset")
    p.add_argument("model", help="a .keras file or a registry name (with --weights)")
    p.add_argument("--data", required=True, help="'tfds:NAME' or a folder of class sub-folders")
    p.add_argument("--split", default="validation", help="default 'validation'")
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--batch-size", type=int, default=64)
    _add_input_size(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("excitations", help="SE gates per class and depth (the SE paper's Fig. 6): table, PNG, JSON")
    p.add_argument("model", help="a .keras file or a registry name (with --weights)")
    p.add_argument("--data", required=True, help="'tfds:NAME' or a folder of class sub-folders")
    p.add_argument("--split", default="test", help="default 'test'")
    p.add_argument("--out", required=True, help="the figure (.png); needs matplotlib: pip install 'keras-senet[plots]'")
    p.add_argument("--json", default=None, help="also write the per-class means and spreads as JSON")
    p.add_argument("--channels", type=int, default=None, help="plot the first N channels only (default all)")
    p.add_argument("--max-examples", type=int, default=None, help="default: the whole split")
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--batch-size", type=int, default=64)
    _add_input_size(p)
    p.set_defaults(func=_cmd_excitations)

    p = sub.add_parser("quickstart", help="offline: train an SE-ResNet on digits, export, score every export")
    p.add_argument("--workdir", default="keras_senet_quickstart")
    p.add_argument("--data", default=None, help="another dataset ('tfds:NAME' or a folder with train/test)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--test-split", default="test", help="scored after training and for every export")
    p.add_argument("--model", default=None, help="default seresnet18 (digits) / seresnet50 (--data)")
    p.add_argument("--weights", default=None, help="e.g. imagenet (needs the network once)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--formats", default=",".join(FORMATS),
                   help=f"exports to make and score, comma-separated (default {','.join(FORMATS)})")
    p.add_argument("--no-export", action="store_true", help="train and test only")
    p.add_argument("--verbose", type=_verbose, default="auto", help="model.fit verbosity: auto, 0, 1, 2")
    p.set_defaults(func=_cmd_quickstart)


def _cmd_export(args):
    from keras_senet.export.from_source import export_from_source

    preprocessing = args.include_preprocessing
    report = export_from_source(args.model, args.out, args.format, weights=_weights(args.weights),
                                input_size=args.input_size, calibration=args.calibration,
                                quantize=args.quantize, io_type=args.io_type, batch_size=args.batch_size,
                                include_preprocessing=True if preprocessing == "" else (preprocessing or False),
                                opset=args.opset, verify=not args.no_verify, overwrite=args.overwrite,
                                target=args.target, keep_float=args.keep_float,
                                quantization_report=args.quantization_report, eval_data=args.eval_data,
                                reparameterize=not args.no_reparameterize, low_memory=args.low_memory,
                                pieces=args.pieces, quantizer=args.quantizer)
    print(report.table())
    return 0


def _add_export_parser(sub):
    from keras_senet.export.api import IO_TYPES
    from keras_senet.export.targets import QUANTIZATIONS, TARGETS, quantize_help
    from keras_senet.export.to_tflite import QUANTIZERS

    titles = " / ".join(target.title for target in TARGETS.values())
    p = sub.add_parser("export", help=f"export to {titles}, verified in its runtime")
    p.add_argument("model", help="registry name (optionally name.tag) or a .keras file")
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--format", required=True, choices=list(TARGETS),
                   help="; ".join(f"{name}: {target.title}" for name, target in TARGETS.items()))
    p.add_argument("--quantize", choices=list(QUANTIZATIONS), default=None,
                   help=quantize_help() + " (int8 needs --calibration)")
    p.add_argument("--io-type", choices=list(IO_TYPES), default=None,
                   help="input/output type of an int8 TFLite model (default int8)")
    p.add_argument("--calibration", default=None, metavar="DIR|tfds:NAME[:SPLIT]",
                   help="real images to calibrate int8 and to verify on")
    p.add_argument("--quantizer", choices=list(QUANTIZERS), default="tensorflow",
                   help="who quantises int8 TFLite (default tensorflow: the converter); ai-edge-quantizer: the "
                        "converter writes fp32 and ai-edge-quantizer quantises it, a lower memory peak "
                        "(io type int8 or float32; pip install \"keras-senet[ai-edge-quantizer]\")")
    _add_input_size(p)
    p.add_argument("--batch-size", type=int, default=None, help="fixed batch size (default: dynamic)")
    p.add_argument("--include-preprocessing", nargs="?", const="", default=None, metavar="NAME[.TAG]",
                   help="take RGB pixels in [0, 255] (SavedModel: uint8 of any size) and normalise inside, "
                        "with the model's mean/std or those of NAME[.TAG]")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    _add_edge_options(p)
    p.add_argument("--no-verify", action="store_true", help="skip the run in the target runtime")
    p.add_argument("--no-reparameterize", action="store_true",
                   help="export GhostNetV3's re-parameterisable branches as trained (default: merged into "
                        "one convolution each, as timm's reparameterize_model)")
    p.add_argument("--low-memory", action="store_true",
                   help="TFLite, ONNX: load the model, convert and verify each in its own process, so that the Keras "
                        "model and the converter never share memory (for models of several GB, e.g. regnety_2560)")
    p.add_argument("--pieces", type=int, default=None, metavar="N",
                   help="with --low-memory: convert the model in N pieces (cut at block outputs), each in its own "
                        "process, joined into one file (default: one per GiB of weights; TensorFlow's int8 at least 3 "
                        "from 100 MiB)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--out", required=True, help="output: " + ", ".join(
        f"{target.describe_path.replace(' (with saved_model.pb)', '')} ({name})" for name, target in TARGETS.items()))
    p.set_defaults(func=_cmd_export)


def _add_edge_options(p):
    """``export``'s TFLite accelerator profile, int8 report, selective quantisation and held-out accuracy."""
    from keras_senet.export.edge import TARGETS as EDGE_TARGETS

    p.add_argument("--target", choices=list(EDGE_TARGETS), default="cpu",
                   help="TFLite accelerator profile (default cpu): " + "; ".join(
                       f"{name}: {target.title}" for name, target in EDGE_TARGETS.items()))
    p.add_argument("--keep-float", type=lambda text: tuple(t for t in text.split(",") if t), default=(),
                   metavar="OP|LAYER[,...]", help="int8 TFLite: TFLite ops (HARD_SWISH) or layer-name parts left "
                                                  "in float (selective quantisation)")
    p.add_argument("--quantization-report", action="store_true",
                   help="int8 TFLite: per-layer error from tf.lite.experimental.QuantizationDebugger")
    p.add_argument("--eval-data", default=None, metavar="DIR|tfds:NAME[:SPLIT]",
                   help="labelled held-out images: print the export's top-1 change against the Keras model")


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-senet", description=__doc__.split(":")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", help="shell-style wildcard, e.g. 'seresne*'")
    p.add_argument("--pretrained", action="store_true", help="only models with pretrained weights")
    p.add_argument("-v", "--verbose", action="store_true", help="one line of facts per model")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="parameters, GFLOPs and input configuration of a model")
    p.add_argument("model")
    p.add_argument("--input-size", type=int, default=None, help="square input side for GFLOPs")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("convert", help="convert a timm checkpoint (.safetensors/.pth) to .weights.h5")
    p.add_argument("--model", required=True, help="registry name of the checkpoint's architecture")
    p.add_argument("checkpoint", help="timm state dict: .safetensors (NumPy only) or .pth (needs torch)")
    p.add_argument("output", help="output path ending in .weights.h5")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_cmd_convert)

    _add_training_parsers(sub)
    _add_export_parser(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `keras-senet list | head`: the reader left, not an error
        sys.stderr.close()
        return 0
    except (ValueError, OSError, RuntimeError, ImportError) as error:
        print(f"keras-senet {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
