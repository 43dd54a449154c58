"""Input pipelines: image folders (corrupt files, splits, preprocessing), TFDS (mocked), bad input."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_senet.data import load_dataset, preprocessing_config

MEAN, STD = np.array([0.485, 0.456, 0.406]) * 255, np.array([0.229, 0.224, 0.225]) * 255
COLOURS = {"cat": (200, 30, 90), "dog": (10, 128, 250)}


@pytest.fixture
def folder(tmp_path):
    """ROOT/{train,test}/{cat,dog}: JPEGs and PNGs of assorted sizes, each one colour per class (plus a
    little noise in training), and one corrupt JPEG in train/dog."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 3)):
        for cls, colour in COLOURS.items():
            os.makedirs(tmp_path / split / cls)
            for i in range(count):
                image = np.full((40 + 3 * i, 50 - 2 * i, 3), colour, np.uint8)
                if i % 2:
                    data = tf.io.encode_png(image).numpy()
                else:
                    data = tf.io.encode_jpeg(image, quality=100).numpy()
                (tmp_path / split / cls / f"{i}.{'png' if i % 2 else 'jpg'}").write_bytes(data)
    (tmp_path / "train" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    (tmp_path / "train" / "dog" / "notes.txt").write_text("ignored: not an image")
    return tmp_path


def _all(ds):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(labels)


def test_folder_skips_and_counts_corrupt_image(folder):
    ds = load_dataset(folder, "train", model="seresnet18", input_size=32, batch_size=4, seed=0)
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2
    assert ds.num_examples == 12
    assert [os.path.basename(p) for p in ds.skipped_files] == ["broken.jpg"]
    assert int(ds.cardinality()) == 3  # 12 // 4, the partial batch dropped in training
    for _ in range(2):  # two full epochs: the corrupt file never surfaces
        images, labels = _all(ds)
        assert images.shape == (12, 32, 32, 3) and images.dtype == np.float32
        assert sorted(labels.tolist()) == [0] * 6 + [1] * 6


def test_folder_strict_raises_before_training(folder):
    with pytest.raises(ValueError, match=r"1 of 13 images .* cannot be decoded: .*broken\.jpg"):
        load_dataset(folder, "train", model="seresnet18", input_size=32, strict=True)


def test_folder_unverified_skips_corrupt_image_while_reading(folder):
    ds = load_dataset(folder, "train", model="seresnet18", input_size=32, batch_size=1, verify=False,
                      training=False)
    images, labels = _all(ds)
    assert len(labels) == 12 and ds.skipped_files == []


def test_eval_preprocessing_normalises_with_model_statistics(folder):
    ds = load_dataset(folder, "test", model="seresnet18", input_size=32, batch_size=4)
    assert int(ds.cardinality()) == 2  # evaluation keeps the partial batch
    images, labels = _all(ds)
    assert images.shape == (6, 32, 32, 3) and labels.tolist() == [0, 0, 0, 1, 1, 1]  # no shuffling
    for image, label in zip(images, labels):
        expected = (np.array(COLOURS[ds.class_names[label]]) - MEAN) / STD
        # a one-colour image stays one colour through resize + crop (JPEG: +-2 grey levels)
        np.testing.assert_allclose(image.reshape(-1, 3).mean(0), expected, atol=2.5 / 255 / 0.224)
    again, _ = _all(ds)
    np.testing.assert_array_equal(images, again)


def test_eval_resizes_shorter_side_then_centre_crops(tmp_path):
    # 80x80 image whose outer ring (10 px) is black, inside white: crop_pct 0.8 at 32 px resizes to 40 and
    # keeps the central 32/40 of the image, exactly the white square.
    image = np.zeros((100, 80, 3), np.uint8)
    image[10:90, 4:76] = 255
    os.makedirs(tmp_path / "a")
    (tmp_path / "a" / "x.png").write_bytes(tf.io.encode_png(image).numpy())
    ds = load_dataset(tmp_path, None, model="seresnet18", input_size=32, crop_pct=0.8, interpolation="bilinear",
                      batch_size=1, training=False)
    (out,), _ = _all(ds)
    pixels = out * STD + MEAN
    np.testing.assert_allclose(pixels, 255, atol=0.5)
    ds = load_dataset(tmp_path, None, model="seresnet18", input_size=32, crop_pct=1.0, batch_size=1,
                      training=False)
    (out,), _ = _all(ds)
    assert (out * STD + MEAN).min() < 50  # without the crop margin the black ring shows


def test_training_augmentation_varies_between_epochs(tmp_path):
    rng = np.random.default_rng(0)
    os.makedirs(tmp_path / "a")
    (tmp_path / "a" / "x.png").write_bytes(tf.io.encode_png(rng.integers(0, 256, (64, 64, 3), np.uint8)).numpy())
    ds = load_dataset(tmp_path, None, model="seresnet18", input_size=32, batch_size=1, training=True, seed=1)
    first, second = _all(ds)[0], _all(ds)[0]
    assert first.shape == (1, 32, 32, 3)
    assert not np.allclose(first, second)


def test_rand_augment_changes_what_plain_training_keeps(tmp_path):
    """A one-colour image keeps its colour through training's random crop, resize and flip, epoch after
    epoch; with rand_augment=True, RandAugment's colour and geometric operations change it."""
    colour = np.array(COLOURS["cat"])
    os.makedirs(tmp_path / "a")
    (tmp_path / "a" / "x.png").write_bytes(tf.io.encode_png(np.full((64, 64, 3), colour, np.uint8)).numpy())
    kwargs = dict(model="seresnet18", input_size=32, batch_size=1, training=True, seed=1)
    expected = (colour - MEAN) / STD
    plain = load_dataset(tmp_path, None, **kwargs)
    for _ in range(4):
        np.testing.assert_allclose(_all(plain)[0].reshape(-1, 3), np.tile(expected, (32 * 32, 1)), atol=1e-3)
    augmented = load_dataset(tmp_path, None, rand_augment=True, **kwargs)
    epochs = [_all(augmented)[0] for _ in range(4)]
    assert all(images.shape == (1, 32, 32, 3) for images in epochs)
    assert any(np.abs(images.reshape(-1, 3) - expected).max() > 0.1 for images in epochs)


def test_folder_split_slices_are_disjoint_and_complete(folder):
    kwargs = dict(model="seresnet18", input_size=32, batch_size=1, training=False)
    head = load_dataset(folder, "train[:50%]", **kwargs)
    tail = load_dataset(folder, "train[50%:]", **kwargs)
    everything = load_dataset(folder, "train", **kwargs)
    assert head.num_examples + len(head.skipped_files) == 7  # 6 cat + 7 dog files, halved per class
    assert head.num_examples + tail.num_examples == everything.num_examples == 12
    sums = lambda ds: sorted(np.round(_all(ds)[0].sum((1, 2, 3)), 2).tolist())  # noqa: E731
    assert sorted(sums(head) + sums(tail)) == sums(everything)


def test_symlinks_followed_inside_the_root_only_and_each_file_once(tmp_path, caplog):
    """`ln -s . good/a/loop` once turned 40 images into 840 examples whose 80%/20% slices shared files,
    and links out of the data folder were followed. Each file now counts once; links stay inside."""
    root, outside = tmp_path / "good", tmp_path / "elsewhere"
    for folder in (root / "a", root / "b", outside):
        folder.mkdir(parents=True)
    shade = iter(range(10, 250, 7))
    def image(path):  # a distinct colour per file: pixel sums identify it
        path.write_bytes(tf.io.encode_png(np.full((8, 8, 3), next(shade), np.uint8)).numpy())
    for cls in ("a", "b"):
        for i in range(5):
            image(root / cls / f"{i}.png")
    image(outside / "secret.png")
    (root / "a" / "loop").symlink_to(".")  # a loop
    (root / "a" / "again").symlink_to(root / "a")  # the same folder twice
    (root / "b" / "same.png").symlink_to(root / "b" / "0.png")  # the same file twice
    (root / "b" / "shared").symlink_to(root / "a")  # inside the root: followed (its files count for b)
    (root / "b" / "out").symlink_to(outside)  # out of the root: skipped
    (root / "b" / "out.png").symlink_to(outside / "secret.png")
    kwargs = dict(model="seresnet18", input_size=8, batch_size=1, training=False, verify=False)
    everything = load_dataset(root, "all", **kwargs)
    assert everything.num_examples == 15  # a: 5, b: 5 + the 5 of a through `shared`
    head, tail = load_dataset(root, "all[:80%]", **kwargs), load_dataset(root, "all[80%:]", **kwargs)
    sums = lambda ds: sorted(np.round(_all(ds)[0].sum((1, 2, 3)), 2).tolist())  # noqa: E731
    assert sorted(sums(head) + sums(tail)) == sums(everything)
    assert head.num_examples + tail.num_examples == 15
    assert "skipped 2 symbolic link(s) leading out of" in caplog.text


def test_preprocessing_config_from_tag_and_model():
    config = preprocessing_config("seresnet50.a3_in1k")
    assert config.input_size == 160 and config.crop_pct == 0.95 and config.interpolation == "bicubic"
    assert preprocessing_config("legacy_seresnet50").interpolation == "bilinear"
    import keras_senet as ks

    model = ks.create_model("seresnet18", input_shape=(48, 48, 3), classes=3)
    config = preprocessing_config(model)
    assert config.input_size == 48 and config.mean == (0.485, 0.456, 0.406)


def test_tfds_source_with_mocked_examples():
    with tfds.testing.mock_data(num_examples=10):
        ds = load_dataset("tfds:mnist", "train", model="seresnet18", input_size=32, batch_size=4, seed=0)
        assert ds.num_classes == 10 and ds.class_names[:2] == ["0", "1"] and ds.num_examples == 10
        images, labels = _all(ds)
    assert images.shape == (8, 32, 32, 3)  # grey MNIST -> 3 channels, partial batch dropped
    assert labels.dtype == np.int32 and 0 <= labels.min() and labels.max() < 10
    # normalised pixels of [0, 255] images lie within the normalised range of 0 and 255
    assert images.min() >= (0 - MEAN.max()) / STD.min() - 1e-4 and images.max() <= (255 - MEAN.min()) / STD.min()


@pytest.mark.parametrize("source, split, message", [
    ("{tmp}/missing", "train", "does not exist"),
    ("{tmp}/empty", None, "No images"),
    ("{tmp}/loose", None, "holds 1 images directly"),
    ("{tmp}/empty", "train", "has no split folder 'train'"),
    ("{tmp}/empty", "train[:0%]", "non-empty part"),
    ("tfds:no_such_dataset_xyz", "train", "Unknown TFDS dataset 'no_such_dataset_xyz'"),
    ("tfds:mnistt", "train", "Did you mean: mnist"),
])
def test_bad_sources_raise_clear_errors(tmp_path, source, split, message):
    os.makedirs(tmp_path / "empty" / "class_a")
    os.makedirs(tmp_path / "loose")
    (tmp_path / "loose" / "x.png").write_bytes(tf.io.encode_png(np.zeros((4, 4, 3), np.uint8)).numpy())
    with pytest.raises(ValueError, match=message):
        load_dataset(source.format(tmp=tmp_path), split, model="seresnet18")


def test_bad_arguments_raise(folder):
    with pytest.raises(ValueError, match="batch_size"):
        load_dataset(folder, "train", batch_size=0)
    with pytest.raises(ValueError, match="fewer than one batch"):
        load_dataset(folder, "train", model="seresnet18", input_size=32, batch_size=64)
    with pytest.raises(ValueError, match="Unknown model"):
        load_dataset(folder, "train", model="seresnet_nope")
