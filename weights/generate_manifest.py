"""Maintainer tool: regenerate the pretrained-weights data from timm's pretrained configs.

    python weights/generate_manifest.py            # needs timm (the test extra), no network

Writes
  keras_senet/data/pruned_widths.json
                                    the per-block widths of the pruned ResNets (timm's _pruned/*.txt, the
                                    shapes timm.models.adapt_model_from_file gives their convs)
  keras_senet/data/pretrained.json  what the library needs at run time: per registered model, timm's
                                    default data config (input size, crop, interpolation, mean/std),
                                    and its tags with source (hub id
                                    or URL), classes, input size, crop, mean/std
  weights/manifest.json             provenance of every checkpoint: the above plus license, upstream
                                    top-1/top-5 (timm's results-imagenet.csv, copied into
                                    weights/upstream_accuracy.json with its commit) and param count
and prints the README table. Only tags with a downloadable upstream file are listed (timm's
"untrained" placeholders are not).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import timm  # noqa: E402  (torch/timm before TensorFlow: see tests/conftest.py)
from timm.models._registry import get_arch_pretrained_cfgs  # noqa: E402

from keras_senet import zoo  # noqa: E402
from keras_senet.info import model_info  # noqa: E402
from keras_senet.weights.pretrained import _table  # noqa: E402


def _tag_record(cfg):
    hub_id = cfg.hf_hub_id or None
    return {
        "hub_id": hub_id,
        "file": "model.safetensors" if hub_id else None,
        # Legacy checkpoints are published only as PyTorch .pth files; their file name carries the
        # first hex digits of the SHA-256 (torch.hub convention), which the loader checks.
        "url": None if hub_id else (cfg.url or None),
        "num_classes": cfg.num_classes,
        "input_size": cfg.input_size[-1],
        "test_input_size": cfg.test_input_size[-1] if cfg.test_input_size else None,
        "interpolation": cfg.interpolation,
        "crop_pct": cfg.crop_pct,
        "mean": list(cfg.mean),
        "std": list(cfg.std),
    }


# Pruned ResNets (Bottleneck blocks) whose widths timm reads from timm/models/_pruned/<name>.txt.
PRUNED_RESNETS = ("ecaresnet50d_pruned", "ecaresnet101d_pruned")


def write_pruned_widths():
    """keras_senet/data/pruned_widths.json: per model, every block's (conv1, conv2, conv3) output channels,
    in block order, parsed from timm's "<module>.weight:[out, in, kh, kw]***..." pruning file."""
    import importlib.resources
    import re

    widths = {}
    for name in PRUNED_RESNETS:
        text = importlib.resources.files("timm.models").joinpath(f"_pruned/{name}.txt").read_text()
        convs = {}
        for block, conv, out in re.findall(r"layer(\d+\.\d+)\.conv([123])\.weight:\[(\d+)", text):
            convs.setdefault(tuple(map(int, block.split("."))), {})[int(conv)] = int(out)
        widths[name] = [[convs[block][conv] for conv in (1, 2, 3)] for block in sorted(convs)]
    with open(os.path.join(ROOT, "keras_senet", "data", "pruned_widths.json"), "w") as f:
        json.dump(widths, f)
        f.write("\n")


def main():
    write_pruned_widths()
    with open(os.path.join(HERE, "upstream_accuracy.json")) as f:
        accuracy = json.load(f)
    runtime, manifest = {}, []
    for name in zoo.list_models():
        tags = {}
        cfgs = get_arch_pretrained_cfgs(name)
        default = next(iter(cfgs.values()))  # timm's default config of the architecture
        record = _tag_record(default)
        config = {key: record[key] for key in ("input_size", "crop_pct", "interpolation", "mean", "std")}
        for full_tag, cfg in cfgs.items():
            tag = full_tag.split(".", 1)[1]
            record = _tag_record(cfg)
            if not (record["hub_id"] or record["url"]):
                continue  # "untrained": nothing to download
            tags[tag] = record
            row = accuracy["rows"].get(full_tag) or {}
            manifest.append(dict(
                model=name, tag=tag, **record, license=cfg.license,
                top1=row.get("top1"), top5=row.get("top5"), eval_size=row.get("img_size"),
                param_count_m=row.get("param_count_m"), paper=cfg.paper_ids or None,
                accuracy_source=accuracy["source"] if row else None))
        runtime[name] = {"config": config, "default": next(iter(tags), None), "tags": tags}
    with open(os.path.join(ROOT, "keras_senet", "data", "pretrained.json"), "w") as f:
        json.dump(runtime, f, indent=1, sort_keys=True)
        f.write("\n")
    _table.cache_clear()  # the builder reads the configs just written
    for name in sorted({row["model"] for row in manifest}):
        # Our own figures, from the built Keras graph at each tag's input size.
        sizes = {r["input_size"] for r in manifest if r["model"] == name}
        figures = {size: model_info(name, input_size=size) for size in sizes}
        for row in manifest:
            if row["model"] == name:
                info = figures[row["input_size"]]
                # model_info builds the 1000-class head; adjust for other heads (in12k: 11821).
                head = (row["num_classes"] - 1000) * (info["num_features"] + 1)
                row["params"] = info["trainable_params"] + head
                row["gflops"] = round(info["gflops"], 2)
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump({"timm_version": timm.__version__, "checkpoints": manifest}, f, indent=1)
        f.write("\n")
    print("| model.tag | params (M) | GFLOPs | input | top-1 | top-5 (at eval size) | upstream file |")
    print("|---|---|---|---|---|---|---|")
    for row in manifest:
        accuracy = (f"{row['top1']:.2f} | {row['top5']:.2f} ({row['eval_size']})" if row["top1"]
                    else "n/a | n/a")
        source = "hub safetensors" if row["hub_id"] else ".pth (needs torch)"
        print(f"| {row['model']}.{row['tag']} | {row['params'] / 1e6:.1f} | {row['gflops']:.1f} | "
              f"{row['input_size']} | {accuracy} | {source} |")


if __name__ == "__main__":
    main()
