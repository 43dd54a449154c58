"""Temporaries of a killed process -- a cache download, a hidden export folder, a `convert` output being
written -- are swept by the next run; those of live processes (or another host's, until they are a day
old) are kept."""

import os
import signal
import socket

import safetensors.numpy

import keras_senet as ks
from export_models import small_model
from keras_senet import _temporary
from keras_senet.conversion import convert_checkpoint
from keras_senet.export import export
from keras_senet.weights import cache
from processes import start_python
from timm_reference import timm_model_with_statistics

# A writer killed mid-write: the library's own temporaries, each with part of a file in it.
KILLED_WRITER = """
import os, sys, time
from keras_senet import _temporary
from keras_senet.weights import cache
out = sys.argv[1]
made = [cache.make_temporary(".download-"), cache.make_temporary(".partial-"),
        _temporary.make_dir(".m.", out, suffix=".tmp"),
        _temporary.make_file(".partial-", out, suffix=".weights.h5")]
for path in made:
    with open(os.path.join(path, "part") if os.path.isdir(path) else path, "wb") as f:
        f.write(b"half a file")
print("\\n".join(made), flush=True)
print("ready", flush=True)
time.sleep(600)
"""


def test_temporaries_of_a_killed_process_are_swept_by_the_next_run(tmp_path, checkpoint_server):
    out = tmp_path / "out"
    out.mkdir()
    writer = start_python(f"import sys; sys.argv[1:] = [{str(out)!r}]\n" + KILLED_WRITER)
    state_dict = {k: v.numpy() for k, v in timm_model_with_statistics("seresnet18").state_dict().items()}
    checkpoint = tmp_path / "model.safetensors"
    safetensors.numpy.save_file(state_dict, str(checkpoint))
    url = checkpoint_server.add("sweep-killed/model.safetensors", checkpoint.read_bytes())
    lines = []
    for line in writer.stdout:  # wait until every temporary holds part of a file
        if line.strip() == "ready":
            break
        lines.append(line.strip())
    killed = [line for line in lines if line.startswith("/")]
    assert len(killed) == 4 and all(os.path.exists(path) for path in killed), lines
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    # a live process's temporaries (this one's), and a fresh one of another host, are kept
    live = [cache.make_temporary(".partial-"), _temporary.make_dir(".m.", str(out), suffix=".tmp")]
    other_host = os.path.join(cache.cache_dir(), f".download-{socket.gethostname()}x.{writer.pid}-abc")
    os.makedirs(other_host)

    ks.create_model("seresnet18", weights=url, input_shape=(32, 32, 3))  # the next runs
    export(small_model("seresnet18"), out / "m", "saved_model", verify=False)
    convert_checkpoint("seresnet18", str(checkpoint), str(out / "seresnet18.weights.h5"))

    assert [path for path in killed if os.path.exists(path)] == []
    assert all(os.path.exists(path) for path in live + [other_host])
    assert sorted(os.listdir(out)) == sorted(["m", "seresnet18.weights.h5", os.path.basename(live[1])])
