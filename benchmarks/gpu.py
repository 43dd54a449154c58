"""GPU figures: our SE-ResNet-50 on the Keras JAX and PyTorch backends against timm on CUDA.

    python -m benchmarks.gpu                     # needs a CUDA GPU, jax[cuda] and/or torch, timm
    python -m benchmarks.gpu --dry-run           # the same cases on the CPU, tiny (tests the script)

One process per framework (Keras-on-JAX, Keras-on-PyTorch, timm), batch 1 and 64, float32 and
bfloat16 (Keras `mixed_bfloat16` policy; timm under `torch.autocast`). The Keras path is
`keras_senet.inference.compile_predict` (a `jax.jit` of the forward pass on JAX, `inference_mode` on
PyTorch); timm runs in eval mode, channels-last, `inference_mode`. float32 convolutions use TF32 in
both (the frameworks' defaults on Hopper); cuDNN autotuning is on for both PyTorch paths. Nothing in
the package needs a GPU: this script is run by hand on a GPU machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time

from benchmarks.run import run_cases


def plan(dry_run):
    size, big = (64, 4) if dry_run else (224, 64)
    device = "cpu" if dry_run else "cuda"
    timing = {1: (1, 2, 0.1), big: (1, 2, 0.1)} if dry_run else {1: (10, 30, 0.5), big: (3, 10, 1.0)}

    def case(kind, model, batch, precision="fp32", **extra):
        warmup, repeats, seconds = timing[batch]
        return dict(kind=kind, model=model, batch=batch, size=size, warmup=warmup, repeats=repeats,
                    seconds=seconds, precision=precision, device=device, **extra)

    groups = []
    for backend in ("jax", "torch"):
        if importlib.util.find_spec(backend) is None:
            print(f"{backend} is not installed: no keras[{backend}] cases", flush=True)
            continue
        kw = dict(backend=backend, path="fast", cudnn_benchmark=True)
        groups.append([
            (f"keras[{backend}] seresnet50 b1 fp32", case("keras", "seresnet50", 1, **kw)),
            (f"keras[{backend}] seresnet50 b{big} fp32", case("keras", "seresnet50", big, **kw)),
            (f"keras[{backend}] resnet50 b{big} fp32", case("keras", "resnet50", big, **kw)),
        ])
        # The dtype policy is global: bfloat16 cases get a process of their own.
        groups.append([
            (f"keras[{backend}] seresnet50 b1 bf16", case("keras", "seresnet50", 1, "bf16", **kw)),
            (f"keras[{backend}] seresnet50 b{big} bf16", case("keras", "seresnet50", big, "bf16", **kw)),
        ])
    kw = dict(cudnn_benchmark=True)
    groups.append([
        ("timm seresnet50 b1 fp32", case("timm", "seresnet50", 1, **kw)),
        (f"timm seresnet50 b{big} fp32", case("timm", "seresnet50", big, **kw)),
        (f"timm resnet50 b{big} fp32", case("timm", "resnet50", big, **kw)),
        ("timm seresnet50 b1 bf16", case("timm", "seresnet50", 1, "bf16", **kw)),
        (f"timm seresnet50 b{big} bf16", case("timm", "seresnet50", big, "bf16", **kw)),
    ])
    return groups, big


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny CPU run of the same cases")
    parser.add_argument("--json", help="also write the raw timings to this file")
    args = parser.parse_args(argv)
    groups, big = plan(args.dry_run)
    results = {}
    for group in groups:
        start = time.perf_counter()
        for (label, _), result in zip(group, run_cases([c for _, c in group], timeout=600)):
            results[label] = result
            if "error" in result:
                print(f"FAILED {label}: {result['error']}", flush=True)
        print(f"  {', '.join(label for label, _ in group)}: {time.perf_counter() - start:.0f} s", flush=True)

    print("\n| case | min ms/batch | median ms/batch | images/s (min) |\n|---|---|---|---|")
    best = {}
    for label, r in results.items():
        if "times" not in r:
            print(f"| {label} | failed | | |")
            continue
        best[label] = min(r["times"])
        print(f"| {label} | {best[label] * 1e3:.2f} | {statistics.median(r['times']) * 1e3:.2f} | "
              f"{r['case']['batch'] / best[label]:.0f} |")
    print("\n| ratio (time, by min) | value |\n|---|---|")
    for backend in ("jax", "torch"):
        for batch, precision in ((1, "fp32"), (big, "fp32"), (1, "bf16"), (big, "bf16")):
            ours = best.get(f"keras[{backend}] seresnet50 b{batch} {precision}")
            timm = best.get(f"timm seresnet50 b{batch} {precision}")
            if ours and timm:
                print(f"| keras[{backend}] / timm, seresnet50 b{batch} {precision} | {ours / timm:.2f} |")
        se, base = (best.get(f"keras[{backend}] {m} b{big} fp32") for m in ("seresnet50", "resnet50"))
        if se and base:
            print(f"| keras[{backend}] SE overhead b{big}: seresnet50 / resnet50 | {se / base:.2f} |")
    se, base = (best.get(f"timm {m} b{big} fp32") for m in ("seresnet50", "resnet50"))
    if se and base:
        print(f"| timm SE overhead b{big}: seresnet50 / resnet50 | {se / base:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
