"""Issue 16's acceptance loop (a script, not a timed unit test): `keras-senet train` is killed with
SIGKILL at random moments and rerun until it finishes; every finished run must have its full epoch
count and history, a model.keras, and no temporary left in its workdir.

    python tests/random_training_kills.py --kills 20 [--seed 0] [--workdir DIR]
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from processes import CLI, quiet_env  # noqa: E402

HEAD_EPOCHS, EPOCHS = 2, 2


def _check_finished(workdir):
    history = json.load(open(os.path.join(workdir, "history.json")))
    total = HEAD_EPOCHS + EPOCHS
    assert history["epoch"] == list(range(1, total + 1)), history["epoch"]
    assert history["phase"] == [1] * HEAD_EPOCHS + [2] * EPOCHS, history["phase"]
    assert os.path.exists(os.path.join(workdir, "model.keras"))
    leftovers = [os.path.join(root, name) for root, dirs, files in os.walk(workdir) for name in files + dirs
                 if name.startswith(".") or ".tmp-" in name or ".partial-" in name]
    assert not leftovers, leftovers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="default: a new temporary folder")
    parser.add_argument("--max-delay", type=float, default=25.0, help="latest kill, seconds after a start")
    args = parser.parse_args(argv)
    root = args.workdir or tempfile.mkdtemp(prefix="random-kills-")
    from keras_senet.quickstart import write_digits

    digits = write_digits(os.path.join(root, "digits"))
    workdir = os.path.join(root, "run")
    command = [*CLI, "train", "--data", str(digits), "--train-split", "train[:10%]", "--model", "seresnet18",
               "--weights", "none", "--image-size", "32", "--head-epochs", str(HEAD_EPOCHS), "--epochs",
               str(EPOCHS), "--batch-size", "16", "--no-flip", "--workdir", workdir, "--verbose", "2"]
    rng = random.Random(args.seed)
    kills, runs = 0, 0
    while kills < args.kills:
        process = subprocess.Popen(command, env=quiet_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        delay = rng.uniform(1.0, args.max_delay)
        try:
            _, stderr = process.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.communicate()
            kills += 1
            print(f"kill {kills}/{args.kills} after {delay:.1f} s", flush=True)
            continue
        if process.returncode != 0:
            sys.exit(f"a rerun after {kills} kills failed:\n{stderr[-3000:]}")
        _check_finished(workdir)
        runs += 1
        print(f"run {runs} finished with its full history after {kills} kills in all", flush=True)
        shutil.rmtree(workdir)  # start afresh, to go on killing
    process = subprocess.run(command, env=quiet_env(), capture_output=True, text=True)
    if process.returncode != 0:
        sys.exit(f"the last rerun failed:\n{process.stderr[-3000:]}")
    _check_finished(workdir)
    print(f"OK: {kills} kills, {runs + 1} finished runs, each with its full history", flush=True)


if __name__ == "__main__":
    main()
