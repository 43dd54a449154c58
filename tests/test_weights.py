"""Pretrained weights: resolution, download from a real HTTP server on 127.0.0.1, verification, cache,
offline mode, every failure mode, and the convert command. The numeric parity of every registered
model through the URL path is in test_models.py::test_same_function_as_timm."""

import hashlib
import json
import os

import keras
import numpy as np
import pytest
import safetensors.numpy
import torch

import keras_senet as ks
from keras_senet.weights import cache
from keras_senet.weights.download import DownloadError, download
from images import normal_images
from processes import run_cli, start_python
from timm_reference import timm_logits, timm_model_with_statistics

SIZE = 64
# A model with a hub checkpoint (timm/seresnext26d_32x4d.bt_in1k) and a small parameter count.
HUB_MODEL, HUB_TAG = "seresnext26d_32x4d", "bt_in1k"


def _state_dict(name, seed=0):
    return {k: v.numpy() for k, v in timm_model_with_statistics(name, seed).state_dict().items()}


@pytest.fixture(scope="module")
def seresnet18_checkpoint():
    """(timm reference model, safetensors bytes) of a seresnet18 with non-trivial statistics."""
    reference = timm_model_with_statistics("seresnet18")
    data = safetensors.numpy.save({k: v.numpy() for k, v in reference.state_dict().items()})
    return reference, data


@pytest.fixture
def hub(checkpoint_server, monkeypatch):
    """The test server as the hub: HF_ENDPOINT points at it and it serves the hub model's checkpoint."""
    monkeypatch.setenv("HF_ENDPOINT", checkpoint_server.url)
    reference = timm_model_with_statistics(HUB_MODEL)
    data = safetensors.numpy.save({k: v.numpy() for k, v in reference.state_dict().items()})
    path = f"timm/{HUB_MODEL}.{HUB_TAG}/resolve/main/model.safetensors"
    checkpoint_server.add(path, data)
    checkpoint_server.requests.clear()
    return reference, path


def _images(size=SIZE):
    return normal_images(2, size, seed=3)


def _logits(model, images):
    return keras.ops.convert_to_numpy(model(images, training=False))


def _cache_files():
    root = cache.cache_dir()
    if not os.path.isdir(root):
        return []
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


# --- the pretrained ("imagenet") path through the hub --------------------------------------------

def test_imagenet_weights_from_hub_match_timm_then_load_from_cache(hub, checkpoint_server, monkeypatch):
    reference, path = hub
    model = ks.create_model(HUB_MODEL, weights="imagenet", input_shape=(SIZE, SIZE, 3),
                            classifier_activation=None)
    images = _images()
    expected = timm_logits(reference, images)
    np.testing.assert_allclose(_logits(model, images), expected, atol=1e-4 * np.abs(expected).max())
    assert checkpoint_server.requests == [path]
    record = json.load(open(os.path.join(cache.entry_dir(f"{HUB_MODEL}.{HUB_TAG}"), cache.RECORD_FILE)))
    assert record["source_url"].endswith(path) and record["tag"] == HUB_TAG
    assert record["upstream_sha256"] == hashlib.sha256(open(os.path.join(checkpoint_server.root, path),
                                                            "rb").read()).hexdigest()
    # Second call: no network at all (offline mode, server path removed) -- served from the cache.
    os.remove(os.path.join(checkpoint_server.root, path))
    monkeypatch.setenv("KERAS_SENET_OFFLINE", "1")
    again = ks.create_model(f"{HUB_MODEL}.{HUB_TAG}", weights="imagenet", input_shape=(SIZE, SIZE, 3),
                            classifier_activation=None)
    np.testing.assert_array_equal(_logits(again, images), _logits(model, images))
    assert checkpoint_server.requests == [path]


def test_imagenet_without_top_takes_all_but_classifier(hub):
    reference, _ = hub
    features = ks.create_model(HUB_MODEL, weights="imagenet", include_top=False, pooling="avg")
    with torch.inference_mode():
        x = torch.from_numpy(_images().transpose(0, 3, 1, 2).copy())
        expected = reference.forward_head(reference.forward_features(x), pre_logits=True).numpy()
    np.testing.assert_allclose(_logits(features, _images()), expected, atol=1e-4 * np.abs(expected).max())


def test_preprocess_follows_tag_config():
    cfg = ks.weights.get_pretrained("seresnet50", "a1_in1k")
    images = np.full((1, 2, 2, 3), 128, np.uint8)
    expected = (128 / 255.0 - np.array(cfg.mean)) / np.array(cfg.std)
    np.testing.assert_allclose(ks.preprocess_input(images, model="seresnet50.a1_in1k")[0, 0, 0], expected,
                               atol=1e-5)


def test_pretrained_tags_and_defaults():
    assert ks.weights.pretrained_tags("seresnet50")[0] == "a1_in1k"  # timm's default tag first
    assert "ra2_in1k" in ks.weights.pretrained_tags("seresnet50")
    assert "seresnet50" in ks.list_models(pretrained=True)
    assert "seresnet18" not in ks.list_models(pretrained=True)  # timm publishes no weights for it
    assert ks.model_info("seresnet18")["pretrained_tags"] == []


# --- local files and URLs -------------------------------------------------------------------------

def test_local_safetensors_weights_h5_and_keras_files(tmp_path, seresnet18_checkpoint):
    reference, data = seresnet18_checkpoint
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    model = ks.create_model("seresnet18", weights=str(path), classifier_activation=None,
                            input_shape=(SIZE, SIZE, 3))
    images = _images()
    expected = timm_logits(reference, images)
    np.testing.assert_allclose(_logits(model, images), expected, atol=1e-4 * np.abs(expected).max())
    model.save_weights(tmp_path / "a.weights.h5")
    model.save(tmp_path / "a.keras")
    for other in ("a.weights.h5", "a.keras"):
        loaded = ks.create_model("seresnet18", weights=str(tmp_path / other), classifier_activation=None,
                                 input_shape=(SIZE, SIZE, 3))
        np.testing.assert_array_equal(_logits(loaded, images), _logits(model, images))


def test_pth_checkpoint_read_without_unpickling(tmp_path, seresnet18_checkpoint):
    reference, _ = seresnet18_checkpoint
    path = tmp_path / "model.pth"
    torch.save(reference.state_dict(), path)
    model = ks.create_model("seresnet18", weights=str(path), classifier_activation=None,
                            input_shape=(SIZE, SIZE, 3))
    expected = timm_logits(reference, _images())
    np.testing.assert_allclose(_logits(model, _images()), expected, atol=1e-4 * np.abs(expected).max())
    evil = tmp_path / "evil.pth"
    marker = tmp_path / "pwned"
    torch.save({"x": Exploit(str(marker))}, evil)  # a pickle that would run code if unpickled unsafely
    with pytest.raises(ks.weights.CheckpointMismatchError, match="not a readable PyTorch state dict"):
        ks.weights.read_state_dict(str(evil))
    assert not marker.exists()
    wrapped = tmp_path / "train.pth"  # a training checkpoint: {"model": state_dict, "epoch": ...}
    torch.save({"model": reference.state_dict(), "epoch": 3}, wrapped)
    assert set(ks.weights.read_state_dict(str(wrapped))) == set(reference.state_dict())


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pth_url_hash_prefix_is_checked(checkpoint_server, seresnet18_checkpoint, tmp_path):
    reference, _ = seresnet18_checkpoint
    torch.save(reference.state_dict(), tmp_path / "x.pth")
    data = (tmp_path / "x.pth").read_bytes()
    good = checkpoint_server.add(f"pth/seresnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth", data)
    model = ks.create_model("seresnet18", weights=good, classifier_activation=None, input_shape=(SIZE, SIZE, 3))
    expected = timm_logits(reference, _images())
    np.testing.assert_allclose(_logits(model, _images()), expected, atol=1e-4 * np.abs(expected).max())
    bad = checkpoint_server.add("pth/seresnet18-deadbeef.pth", data)
    with pytest.raises(ks.weights.CheckpointMismatchError, match="does not start with deadbeef"):
        ks.create_model("seresnet18", weights=bad)


def test_hf_scheme_resolves_through_hub_endpoint(hub, checkpoint_server):
    reference, path = hub
    model = ks.create_model(HUB_MODEL, weights=f"hf://timm/{HUB_MODEL}.{HUB_TAG}", classifier_activation=None,
                            input_shape=(SIZE, SIZE, 3))
    expected = timm_logits(reference, _images())
    np.testing.assert_allclose(_logits(model, _images()), expected, atol=1e-4 * np.abs(expected).max())
    assert checkpoint_server.requests == [path]


# --- failures: each a clear error, nothing partial left behind ------------------------------------

def test_404(checkpoint_server):
    with pytest.raises(DownloadError, match="HTTP 404"):
        ks.create_model("seresnet18", weights=f"{checkpoint_server.url}/missing/model.safetensors")
    assert not any(f.endswith(".h5") for f in _cache_files())


def test_connection_refused():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot connect"):
        ks.create_model("seresnet18", weights=f"http://127.0.0.1:{port}/model.safetensors")


def test_timeout(checkpoint_server, tmp_path, seresnet18_checkpoint):
    url = checkpoint_server.add("slow/model.safetensors", seresnet18_checkpoint[1])
    checkpoint_server.behaviour["slow/model.safetensors"] = "stall"
    with pytest.raises(DownloadError, match="no answer within|interrupted"):
        download(url, tmp_path / "out" / "model.safetensors", timeout=0.5)
    assert os.listdir(tmp_path / "out") == []  # no partial file left


def test_truncated_download(checkpoint_server, seresnet18_checkpoint):
    url = checkpoint_server.add("truncated/model.safetensors", seresnet18_checkpoint[1])
    checkpoint_server.behaviour["truncated/model.safetensors"] = "truncate"
    with pytest.raises(DownloadError, match="truncated|interrupted"):
        ks.create_model("seresnet18", weights=url)
    assert not any(f.endswith((".h5", ".safetensors")) for f in _cache_files())


def test_sha256_mismatch(checkpoint_server, seresnet18_checkpoint, tmp_path):
    url = checkpoint_server.add("badhash/model.safetensors", seresnet18_checkpoint[1])
    checkpoint_server.behaviour["badhash/model.safetensors"] = "bad-etag"
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        ks.create_model("seresnet18", weights=url)
    url = checkpoint_server.add("hashed/model.safetensors", seresnet18_checkpoint[1])
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        download(url, tmp_path / "out" / "x.safetensors", sha256="1" * 64)
    assert os.listdir(tmp_path / "out") == []  # no partial file left


def test_checkpoint_of_another_architecture(checkpoint_server, seresnet18_checkpoint):
    url = checkpoint_server.add("other/model.safetensors", seresnet18_checkpoint[1])
    with pytest.raises(ks.weights.CheckpointMismatchError,
                       match=r"'fc\.weight' has shape \(1000, 512\).*has shape \(2048, 1000\)"):
        ks.create_model("seresnet50", weights=url)
    assert not any(f.endswith(".h5") for f in _cache_files())


def test_corrupt_file(checkpoint_server):
    url = checkpoint_server.add("corrupt/model.safetensors", os.urandom(4096))
    with pytest.raises(ks.weights.CheckpointMismatchError, match="not a readable safetensors"):
        ks.create_model("seresnet18", weights=url)


def test_unknown_tag_and_model_without_weights():
    with pytest.raises(ValueError, match="Unknown pretrained tag 'b9_in1k'.*a1_in1k"):
        ks.create_model("seresnet50", weights="b9_in1k")
    with pytest.raises(ValueError, match="has no pretrained weights upstream"):
        ks.create_model("seresnet18", weights="imagenet")


def test_plain_http_only_to_loopback():
    with pytest.raises(ValueError, match="only https://"):
        ks.create_model("seresnet18", weights="http://example.com/model.safetensors")


def test_offline_miss_names_the_file(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ks.weights.OfflineError, match=r"seresnet50\.a1_in1k.*seresnet50\.a1_in1k\.v\d+/model\.safetensors"):
        ks.create_model("seresnet50", weights="imagenet")


def test_corrupt_cache_entry_is_never_used(checkpoint_server, seresnet18_checkpoint, monkeypatch):
    url = checkpoint_server.add("cached/model.safetensors", seresnet18_checkpoint[1])
    good = ks.create_model("seresnet18", weights=url, classifier_activation=None, input_shape=(SIZE, SIZE, 3))
    (entry,) = [f for f in _cache_files() if f.endswith(cache.WEIGHTS_FILE) and "url" in f]
    with open(os.path.join(cache.cache_dir(), entry), "r+b") as f:
        f.seek(-64, os.SEEK_END)
        f.write(b"\0" * 64)
    monkeypatch.setenv("KERAS_SENET_OFFLINE", "1")
    with pytest.raises(ks.weights.OfflineError):
        ks.create_model("seresnet18", weights=url)
    monkeypatch.delenv("KERAS_SENET_OFFLINE")
    again = ks.create_model("seresnet18", weights=url, classifier_activation=None, input_shape=(SIZE, SIZE, 3))
    np.testing.assert_array_equal(_logits(again, _images()), _logits(good, _images()))


def test_two_processes_fetch_the_same_weights(checkpoint_server, seresnet18_checkpoint, tmp_path):
    url = checkpoint_server.add("race/model.safetensors", seresnet18_checkpoint[1])
    script = ("import torch, keras_senet as ks, numpy as np\n"
              f"m = ks.create_model('seresnet18', weights='{url}', input_shape=({SIZE}, {SIZE}, 3))\n"
              "print('ok', float(np.asarray(m.get_layer('fc').kernel).sum()))\n")
    procs = [start_python(script) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-2000:]
    sums = [[line for line in out.splitlines() if line.startswith("ok ")][-1] for out in outputs]
    assert sums[0] == sums[1]
    assert sum(f.endswith(cache.WEIGHTS_FILE) for f in _cache_files()) >= 1
    assert not any(part.startswith((".partial", ".download")) for f in _cache_files() for part in f.split(os.sep))


# --- the convert command --------------------------------------------------------------------------

def test_convert_command(tmp_path, seresnet18_checkpoint):
    reference, data = seresnet18_checkpoint
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(data)
    out = tmp_path / "seresnet18.weights.h5"
    cmd = ["convert", "--model", "seresnet18", checkpoint, out]
    result = run_cli(*cmd)
    assert result.returncode == 0, result.stderr
    model = ks.create_model("seresnet18", weights=str(out), classifier_activation=None,
                            input_shape=(SIZE, SIZE, 3))
    expected = timm_logits(reference, _images())
    np.testing.assert_allclose(_logits(model, _images()), expected, atol=1e-4 * np.abs(expected).max())
    again = run_cli(*cmd)
    assert again.returncode == 2 and "exists" in again.stderr
    wrong = run_cli("convert", "--model", "seresnet34", checkpoint, tmp_path / "x.weights.h5")
    assert wrong.returncode == 2
    assert "no tensor in the checkpoint" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not (tmp_path / "x.weights.h5").exists()


def test_pretrained_table_matches_timm_configs():
    """keras_senet/data/pretrained.json and weights/manifest.json hold exactly timm's downloadable tags
    for our models, with timm's classes, sizes and preprocessing."""
    from timm.models._registry import get_arch_pretrained_cfgs

    manifest = json.load(open(os.path.join(os.path.dirname(__file__), "..", "weights", "manifest.json")))
    listed = {f"{row['model']}.{row['tag']}" for row in manifest["checkpoints"]}
    expected = set()
    for name in ks.list_models():
        tags = ks.weights.pretrained_tags(name)
        for full_tag, cfg in get_arch_pretrained_cfgs(name).items():
            if cfg.hf_hub_id or cfg.url:
                expected.add(full_tag)
                tag = full_tag.split(".", 1)[1]
                assert tag in tags
                ours = ks.weights.get_pretrained(name, tag)
                assert (ours.num_classes, ours.input_size, ours.interpolation) == (
                    cfg.num_classes, cfg.input_size[-1], cfg.interpolation)
                assert ours.crop_pct == pytest.approx(cfg.crop_pct) and ours.mean == pytest.approx(cfg.mean)
        if tags:
            assert tags[0] == next(iter(get_arch_pretrained_cfgs(name))).split(".", 1)[1]
    assert listed == expected
    assert {f"{m}.{t}" for m in ks.weights.models_with_weights() for t in ks.weights.pretrained_tags(m)} == expected


def test_hub_redirect_hash_is_checked_and_redirects_are_restricted(checkpoint_server, seresnet18_checkpoint,
                                                                   tmp_path):
    """The hub answers /resolve/ with a 302 to its CDN carrying X-Linked-Etag (the SHA-256); the CDN's
    own answer has none. The hash from the redirect must still be enforced, and a redirect to plain
    http on a public host refused."""
    data = seresnet18_checkpoint[1]
    cdn = checkpoint_server.add("cdn/blob", data)
    checkpoint_server.behaviour["cdn/blob"] = "cdn"
    good = checkpoint_server.add("hub/good/model.safetensors", b"")
    checkpoint_server.behaviour["hub/good/model.safetensors"] = ("redirect", cdn, hashlib.sha256(data).hexdigest())
    assert download(good, tmp_path / "ok" / "m.safetensors") == hashlib.sha256(data).hexdigest()
    bad = checkpoint_server.add("hub/bad/model.safetensors", b"")
    checkpoint_server.behaviour["hub/bad/model.safetensors"] = ("redirect", cdn, "2" * 64)
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        download(bad, tmp_path / "bad" / "m.safetensors")
    public = checkpoint_server.add("hub/public/model.safetensors", b"")
    checkpoint_server.behaviour["hub/public/model.safetensors"] = ("redirect", "http://203.0.113.5/x", "3" * 64)
    with pytest.raises(DownloadError, match="refused redirect"):
        download(public, tmp_path / "public" / "m.safetensors")
    assert os.listdir(tmp_path / "bad") == [] and os.listdir(tmp_path / "public") == []


def test_weights_and_architecture_overrides_do_not_mix(tmp_path, seresnet18_checkpoint):
    path = tmp_path / "model.safetensors"
    path.write_bytes(seresnet18_checkpoint[1])
    with pytest.raises(ValueError, match="changes the architecture"):
        ks.create_model("seresnet18", weights=str(path), attention="eca")
    with pytest.raises(ValueError, match="needs weights='imagenet'"):
        ks.create_model("seresnet50.a1_in1k", weights=str(path))
    with pytest.raises(ValueError, match="only None and 'softmax'"):
        ks.create_model("seresnet50", weights="imagenet", classifier_activation="sigmoid")
    # A model's architecture is the one it carries, not its name: a renamed model still loads ...
    renamed = ks.create_model("seresnet18", name="backbone", input_shape=(SIZE, SIZE, 3))
    assert ks.weights.load(renamed, str(path)).model == "seresnet18"
    # ... while a plain Keras model of unknown provenance needs the registry name.
    plain = keras.Model(renamed.input, renamed.output, name="backbone")
    with pytest.raises(ValueError, match="'backbone' is not a registered architecture name"):
        ks.weights.load(plain, str(path))
    ks.weights.load(plain, str(path), model_name="seresnet18")


def test_stale_temporary_folders_are_swept(checkpoint_server, seresnet18_checkpoint):
    os.makedirs(cache.cache_dir(), exist_ok=True)
    stale = os.path.join(cache.cache_dir(), ".partial-killed")
    fresh = os.path.join(cache.cache_dir(), ".download-running")
    for folder in (stale, fresh):
        os.makedirs(folder)
        open(os.path.join(folder, "model.weights.h5"), "wb").close()
    old = os.path.getmtime(stale) - 2 * cache.STALE_SECONDS
    os.utime(stale, (old, old))
    url = checkpoint_server.add("sweep/model.safetensors", seresnet18_checkpoint[1])
    ks.create_model("seresnet18", weights=url, input_shape=(SIZE, SIZE, 3))
    assert not os.path.exists(stale)  # left by a killed process a day ago
    assert os.path.exists(fresh)  # may belong to a process still downloading


# --- a failed load changes nothing ------------------------------------------------------------------

def _values(model):
    return [(v.path, keras.ops.convert_to_numpy(v).copy()) for v in model.variables]


@pytest.mark.parametrize("donor_kwargs, suffix, match", [
    (dict(name="seresnet34"), ".weights.h5", r"holds the weights of \d+ layers.*another architecture"),
    (dict(name="seresnet18", classes=10), ".weights.h5", r"does not fit model.*shape"),
    (dict(name="seresnet34"), ".keras", r"no counterpart in model"),
])
def test_failed_keras_load_leaves_weights_bit_identical(tmp_path, donor_kwargs, suffix, match):
    """Keras assigns .weights.h5 layer by layer and fails at the first misfit (the classifier last):
    every earlier variable must be put back, and the error must name the file."""
    model = ks.create_model("seresnet18", input_shape=(SIZE, SIZE, 3))
    donor = ks.create_model(donor_kwargs.pop("name"), input_shape=(SIZE, SIZE, 3), **donor_kwargs)
    path = str(tmp_path / f"other{suffix}")
    donor.save_weights(path) if suffix == ".weights.h5" else donor.save(path)
    before = _values(model)
    with pytest.raises(ks.weights.CheckpointMismatchError, match=match) as error:
        ks.weights.load(model, path)
    assert path in str(error.value)
    after = _values(model)
    assert [name for name, _ in after] == [name for name, _ in before]
    for (name, old), (_, new) in zip(before, after):
        np.testing.assert_array_equal(new, old, err_msg=name)


def test_empty_or_non_hdf5_weights_file_is_named(tmp_path):
    model = ks.create_model("seresnet18", input_shape=(SIZE, SIZE, 3))
    for content in (b"", b"not an HDF5 file" * 10):
        path = tmp_path / "model.weights.h5"
        path.write_bytes(content)
        with pytest.raises(ks.weights.CheckpointMismatchError,
                           match=rf"{path}: not a readable Keras \.weights\.h5 .*{len(content)} bytes"):
            ks.weights.load(model, str(path))


# --- the user's umask -------------------------------------------------------------------------------

@pytest.fixture
def group_umask():
    """umask 002, as on a machine whose users share a cache through a group."""
    old = os.umask(0o002)
    yield
    os.umask(old)


def test_cache_and_convert_outputs_follow_the_umask(checkpoint_server, seresnet18_checkpoint, tmp_path,
                                                    group_umask):
    """Cache folders were 0700 and `convert` outputs 0600 (tempfile's private modes) whatever the umask."""
    from keras_senet.conversion import convert_checkpoint

    url = checkpoint_server.add("umask/model.safetensors", seresnet18_checkpoint[1])
    ks.create_model("seresnet18", weights=url, input_shape=(SIZE, SIZE, 3))
    modes = {path: os.stat(os.path.join(root, path)).st_mode & 0o777
             for root in (cache.cache_dir(),)
             for path in [os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root)
                          for n in dirs + files]}
    assert modes and all(mode == (0o775 if os.path.isdir(os.path.join(cache.cache_dir(), path)) else 0o664)
                         for path, mode in modes.items()), modes
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(seresnet18_checkpoint[1])
    out, _ = convert_checkpoint("seresnet18", str(checkpoint), str(tmp_path / "out.weights.h5"))
    assert os.stat(out).st_mode & 0o777 == 0o664
    assert sorted(os.listdir(tmp_path)) == ["keras_home", "model.safetensors", "out.weights.h5"]


# --- concurrent loads ----------------------------------------------------------------------------------

# The fetch step of ks.weights.load alone (no model built: four TensorFlow start-ups are slow enough).
CONCURRENT_LOADER = """
import os, sys, time
from keras_senet.weights import resolve
from keras_senet.weights.loading import _fetch_state_dict
url, go = sys.argv[1:]
print("ready", flush=True)
while not os.path.exists(go):  # all start loading at the same moment
    time.sleep(0.005)
state_dict = _fetch_state_dict(resolve(url, "seresnet18"))
print("ok", float(state_dict["fc.weight"].sum()), flush=True)
"""


def test_concurrent_loads_download_once(checkpoint_server, seresnet18_checkpoint, tmp_path):
    """Four workers starting together once made four downloads of one checkpoint: a lock per cache
    entry makes one download it while the others wait and read the entry."""
    url = checkpoint_server.add("together/model.safetensors", seresnet18_checkpoint[1])
    checkpoint_server.requests.clear()
    go = tmp_path / "go"
    procs = [start_python(f"import sys; sys.argv[1:] = [{url!r}, {str(go)!r}]\n" + CONCURRENT_LOADER)
             for _ in range(4)]
    for p in procs:
        for line in p.stdout:
            if line.strip() == "ready":
                break
    go.touch()
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), [out[-1500:] for out in outputs]
    sums = {[line for line in out.splitlines() if line.startswith("ok ")][-1] for out in outputs}
    assert len(sums) == 1
    assert [path for path in checkpoint_server.requests if "together" in path] == ["together/model.safetensors"]
