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
            spec = entry.spec
            print(f"{name:<{width}}  {entry.default_size:>3}px  {spec.block:<10}  "
                  f"depths={'-'.join(map(str, spec.depths))}  attention={spec.attention or '-'}")
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
    from keras_senet.weights.loading import convert_checkpoint

    output, classes = convert_checkpoint(args.model, args.checkpoint, args.output, overwrite=args.overwrite)
    print(f"wrote {output} ({args.model}, {classes} classes)")
    return 0


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
