"""Side-by-side CPU benchmark of keras-senet against timm and against the machine's matmul rate.

    python -m benchmarks.run                 # the issue-6 table (about 5 minutes on 2 quiet cores)
    python -m benchmarks.run --rounds 2      # every case twice, interleaved (noisy machines)
    python -m benchmarks.run --variants      # plus XLA, predict and bfloat16 rows
    python -m benchmarks.run --quick         # CI smoke: tiny model and images, proves it runs (< 60 s)

Each case runs in a fresh process (`benchmarks.workers`), warms up, then repeats until both a count
and a time are reached; the table gives min and median per batch and per image, and the targets of
issue 6 as ratios of the per-case minima (the median-based ratio beside it). `--quick` groups the
cases of one framework into one process to save start-up time and asserts nothing about speed.
Where a target is missed, op-level profiles of both frameworks follow the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# (model, baseline without attention) for each framework; quick mode uses SE-ResNet-18 at 64x64.
FULL = dict(model="seresnet50", base="resnet50", timm_model="seresnet50", timm_base="resnet50",
            base_overrides={}, size=224, batch=16, matmul=2048)
QUICK = dict(model="seresnet18", base="seresnet18", timm_model="seresnet18", timm_base="resnet18",
             base_overrides={"attention": None}, size=64, batch=4, matmul=256)

# warm-up calls, minimum timed calls, minimum timed seconds, per kind of case
FULL_TIMING = {"batch": (2, 5, 6.0), "single": (5, 20, 3.0), "train": (3, 5, 8.0), "matmul": (3, 10, 2.0)}
QUICK_TIMING = {"batch": (1, 2, 0.1), "single": (1, 2, 0.1), "train": (1, 2, 0.1), "matmul": (1, 2, 0.1)}


def _base_label(cfg):
    return cfg["base"] + ("-noattn" if cfg["base_overrides"] else "")


def plan(quick, variants, threads):
    """The cases of one run: a list of (label, case dict)."""
    cfg = QUICK if quick else FULL
    timing = QUICK_TIMING if quick else FULL_TIMING
    big, size = cfg["batch"], cfg["size"]

    def case(kind, model=None, batch=1, path=None, timing_kind=None, **extra):
        warmup, repeats, seconds = timing[timing_kind or ("single" if batch == 1 else "batch")]
        return dict(kind=kind, model=model, batch=batch, path=path, size=size, threads=threads,
                    warmup=warmup, repeats=repeats, seconds=seconds, **extra)

    m, base, tm, tbase = cfg["model"], cfg["base"], cfg["timm_model"], cfg["timm_base"]
    base_kw = {"overrides": cfg["base_overrides"]} if cfg["base_overrides"] else {}
    base_label = _base_label(cfg)
    cases = [
        ("numpy matmul", dict(case("matmul", timing_kind="matmul"), size=cfg["matmul"])),
        (f"keras {m} b{big} fast", case("keras", m, big, "fast", flops=True)),
        (f"keras {base_label} b{big} fast", case("keras", base, big, "fast", **base_kw)),
        (f"keras {m} b1 fast", case("keras", m, 1, "fast")),
        (f"keras {base_label} b1 fast", case("keras", base, 1, "fast", **base_kw)),
        (f"keras {m} b{big} fused", case("keras", m, big, "fused")),
        (f"keras {m} b1 fused", case("keras", m, 1, "fused")),
        (f"keras {m} b{big} function", case("keras", m, big, "function")),
        (f"keras {m} b1 predict", case("keras", m, 1, "predict")),
        (f"timm {tm} b{big}", case("timm", tm, big)),
        (f"timm {tbase} b{big}", case("timm", tbase, big)),
        (f"timm {tm} b1", case("timm", tm, 1)),
        (f"timm {tbase} b1", case("timm", tbase, 1)),
        (f"keras {m} b{big} fit", case("keras_train", m, big, timing_kind="train")),
        (f"timm {tm} b{big} train", case("timm_train", tm, big, timing_kind="train")),
    ]
    if variants:
        cases += [
            (f"keras {m} b{big} xla", case("keras", m, big, "xla")),
            (f"keras {m} b{big} predict", case("keras", m, big, "predict")),
            (f"keras {m} b1 function", case("keras", m, 1, "function")),
            (f"keras {m} b{big} fast bf16", case("keras", m, big, "fast", precision="bf16")),
            (f"timm {tm} b{big} bf16", case("timm", tm, big, precision="bf16")),
        ]
    return cases


def _child_env(cases):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    if any(c["kind"] == "matmul" for c in cases):
        # Set on some processors for old OpenBLAS builds; they slow a current NumPy's kernels.
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    return env


def run_cases(cases, timeout=900):
    """Run a list of case dicts in one fresh child process; returns one result (or error) per case."""
    cmd = [sys.executable, "-m", "benchmarks.workers", json.dumps(cases)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(cmd, cwd=root, env=_child_env(cases), capture_output=True, text=True,
                          timeout=timeout)
    results = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or len(results) != len(cases):
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        error = f"exit code {proc.returncode}:\n{tail}"
        results += [{"case": c, "error": error} for c in cases[len(results):]]
    return results


def _groups(cases, quick):
    """Fresh process per case; in quick mode one process per framework."""
    if not quick:
        return [[c] for c in cases]
    groups = {}
    for label, case in cases:
        groups.setdefault(case["kind"].split("_")[0], []).append((label, case))
    return list(groups.values())


def measure(cases, quick, rounds, log=print):
    """Run every case `rounds` times (rounds interleaved); pool each case's timings."""
    pooled = {label: {"times": [], "case": case} for label, case in cases}
    for r in range(rounds):
        for group in _groups(cases, quick):
            start = time.perf_counter()
            results = run_cases([case for _, case in group])
            for (label, _), result in zip(group, results):
                entry = pooled[label]
                if "error" in result:
                    entry["error"] = result["error"]
                    log(f"  FAILED {label}: {result['error']}")
                    continue
                entry["times"] += result["times"]
                entry.update({k: v for k, v in result.items() if k not in ("times", "case")})
            names = ", ".join(label for label, _ in group)
            log(f"  [round {r + 1}/{rounds}] {names}: {time.perf_counter() - start:.0f} s")
    for entry in pooled.values():
        if entry["times"]:
            entry["min"] = min(entry["times"])
            entry["median"] = statistics.median(entry["times"])
    return pooled


def merge(paths):
    """Pool the per-case timings of several `--json` outputs of full runs (min over all, median of all)."""
    pooled = {}
    for path in paths:
        with open(path) as f:
            for label, entry in json.load(f)["cases"].items():
                if not entry.get("times"):
                    continue
                if label in pooled:
                    pooled[label]["times"] += entry["times"]
                else:
                    pooled[label] = dict(entry, times=list(entry["times"]))
    for entry in pooled.values():
        entry["min"] = min(entry["times"])
        entry["median"] = statistics.median(entry["times"])
    return pooled


def _fmt_case_table(pooled):
    rows = ["| case | batch | min ms/batch | median ms/batch | min ms/image | images/s (min) | calls |",
            "|---|---|---|---|---|---|---|"]
    for label, e in pooled.items():
        if "min" not in e:
            rows.append(f"| {label} | | failed | | | | |")
            continue
        batch = e["case"]["batch"]
        if e["case"]["kind"] == "matmul":
            rows.append(f"| {label} {e['case']['size']}^3 float32 | | {e['min'] * 1e3:.1f} | "
                        f"{e['median'] * 1e3:.1f} | | {e['gflop'] / e['min']:.0f} GFLOP/s | {len(e['times'])} |")
            continue
        rows.append(f"| {label} | {batch} | {e['min'] * 1e3:.1f} | {e['median'] * 1e3:.1f} | "
                    f"{e['min'] * 1e3 / batch:.1f} | {batch / e['min']:.1f} | {len(e['times'])} |")
    return "\n".join(rows)


def targets(pooled, quick):
    """The ratios of issue 6: list of dicts (name, value by min, value by median, goal, met)."""
    cfg = QUICK if quick else FULL
    m, tm, tbase, big = cfg["model"], cfg["timm_model"], cfg["timm_base"], cfg["batch"]
    base = _base_label(cfg)

    def t(label, stat):
        e = pooled.get(label, {})
        return e[stat] / e["case"]["batch"] if stat in e else None  # seconds per image

    def ratio(num, den, stat):
        a, b = t(num, stat), t(den, stat)
        return a / b if a and b else None

    def gflops_ratio(stat):
        e, mm = pooled.get(f"keras {m} b{big} fast", {}), pooled.get("numpy matmul", {})
        if stat not in e or stat not in mm or "gflop_per_image" not in e:
            return None
        achieved = e["gflop_per_image"] * big / e[stat]
        return achieved / (mm["gflop"] / mm[stat])

    specs = [
        (f"1. throughput b{big}: timm / ours (x faster)", ">= 1.4",
         lambda s: ratio(f"timm {tm} b{big}", f"keras {m} b{big} fast", s), lambda v: v >= 1.4),
        (f"2. SE overhead b{big}: ours {m} / {base}", "<= 1.05",
         lambda s: ratio(f"keras {m} b{big} fast", f"keras {base} b{big} fast", s), lambda v: v <= 1.05),
        (f"2. SE overhead b1: ours {m} / {base}", "<= 1.05",
         lambda s: ratio(f"keras {m} b1 fast", f"keras {base} b1 fast", s), lambda v: v <= 1.05),
        (f"2. SE overhead b{big}, fused_se=True: ours {m} / {base}", "<= 1.05",
         lambda s: ratio(f"keras {m} b{big} fused", f"keras {base} b{big} fast", s), lambda v: v <= 1.05),
        (f"2. SE overhead b1, fused_se=True: ours {m} / {base}", "<= 1.05",
         lambda s: ratio(f"keras {m} b1 fused", f"keras {base} b1 fast", s), lambda v: v <= 1.05),
        ("3. latency b1: ours / timm", "<= 0.8",
         lambda s: ratio(f"keras {m} b1 fast", f"timm {tm} b1", s), lambda v: v <= 0.8),
        (f"4. GFLOP/s b{big}: ours / NumPy matmul", ">= 0.9", gflops_ratio, lambda v: v >= 0.9),
        (f"5. training b{big}: ours fit img/s / timm train img/s", ">= 1.0",
         lambda s: ratio(f"timm {tm} b{big} train", f"keras {m} b{big} fit", s), lambda v: v >= 1.0),
        (f"(info) timm SE overhead b{big}: {tm} / {tbase}", "",
         lambda s: ratio(f"timm {tm} b{big}", f"timm {tbase} b{big}", s), None),
        (f"(info) timm SE overhead b1: {tm} / {tbase}", "",
         lambda s: ratio(f"timm {tm} b1", f"timm {tbase} b1", s), None),
        ("(info) model.predict b1 / fast path b1", "",
         lambda s: ratio(f"keras {m} b1 predict", f"keras {m} b1 fast", s), None),
        (f"(info) tf.function b{big} / fast path b{big}", "",
         lambda s: ratio(f"keras {m} b{big} function", f"keras {m} b{big} fast", s), None),
        (f"(info) ours: fit step / tf.function inference, b{big}", "",
         lambda s: ratio(f"keras {m} b{big} fit", f"keras {m} b{big} function", s), None),
        (f"(info) timm: train step / inference, b{big}", "",
         lambda s: ratio(f"timm {tm} b{big} train", f"timm {tm} b{big}", s), None),
    ]
    out = []
    for name, goal, fn, check in specs:
        by_min, by_median = fn("min"), fn("median")
        met = None if check is None or by_min is None else bool(check(by_min))
        out.append(dict(name=name, min=by_min, median=by_median, goal=goal, met=met))
    return out


def _fmt_targets(rows):
    lines = ["| ratio | by min | by median | target | met |", "|---|---|---|---|---|"]
    for r in rows:
        fmt = (lambda v: "n/a" if v is None else f"{v:.2f}")
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['name']} | {fmt(r['min'])} | {fmt(r['median'])} | {r['goal']} | {met} |")
    return "\n".join(lines)


def profiles(quick, threads, log=print):
    """Op-level profiles of ours (fast path, with and without SE) and timm at the big batch."""
    cfg = QUICK if quick else FULL
    big, size = cfg["batch"], cfg["size"]
    warmup, repeats = (1, 1) if quick else (2, 3)
    common = dict(batch=big, size=size, threads=threads, warmup=warmup, repeats=repeats, seconds=0)
    cases = [
        (f"keras {cfg['model']} b{big} fast", dict(common, kind="keras_profile", model=cfg["model"])),
        (f"keras {_base_label(cfg)} b{big} fast", dict(common, kind="keras_profile", model=cfg["base"],
                                                   overrides=cfg["base_overrides"])),
        (f"timm {cfg['timm_model']} b{big}", dict(common, kind="timm_profile", model=cfg["timm_model"])),
    ]
    text = []
    for label, case in cases:
        result = run_cases([case])[0]
        if "error" in result:
            text.append(f"{label}: profile failed: {result['error']}")
            continue
        total = result["times"][0]
        ops = result["ops"]
        summed = sum(s for _, s in ops) or 1.0
        top = ", ".join(f"{op} {s * 1e3:.0f} ms ({100 * s / summed:.0f}%)" for op, s in ops[:8])
        text.append(f"{label}: {total * 1e3:.0f} ms/batch traced; top ops by self time: {top}")
    return "\n".join(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: tiny model and images, < 60 s")
    parser.add_argument("--rounds", type=int, default=1, help="run every case this many times, interleaved")
    parser.add_argument("--variants", action="store_true", help="add XLA, predict and bfloat16 rows")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every framework")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="op profiles after the table: when a target is missed (auto), always, never")
    parser.add_argument("--json", help="also write the raw timings and ratios to this file")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="measure nothing: pool the timings of earlier --json files (like more rounds)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.merge:
        pooled = merge(args.merge)
        args.profile = "never"
    else:
        cases = plan(args.quick, args.variants, args.threads)
        print(f"# keras-senet benchmark ({'quick' if args.quick else 'full'}; {len(cases)} cases x "
              f"{args.rounds} round(s); {args.threads} threads)", flush=True)
        pooled = measure(cases, args.quick, args.rounds, log=lambda s: print(s, flush=True))
    rows = targets(pooled, args.quick)
    print()
    print(_fmt_case_table(pooled))
    print()
    print(_fmt_targets(rows))
    missed = [r["name"] for r in rows if r["met"] is False]
    if args.profile == "always" or (args.profile == "auto" and missed and not args.quick):
        print("\n## Profiles (why)" + (f" - missed: {'; '.join(missed)}" if missed else ""), flush=True)
        print(profiles(args.quick, args.threads))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": pooled, "targets": rows}, f, indent=1)
    failed = [label for label, e in pooled.items() if "error" in e]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
