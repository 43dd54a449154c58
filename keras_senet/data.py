"""Input pipelines for fine-tuning and evaluation: TFDS datasets by name and folders of class images.

    ds = load_dataset("tfds:oxford_flowers102", "train", model="seresnet50.a1_in1k", batch_size=32,
                      training=True)
    ds = load_dataset("/data/pets", "validation", model="seresnet50", batch_size=64)
    ds.class_names, ds.num_classes, ds.num_examples, ds.skipped_files

Batches are ``(images, labels)``: images float32 ``(batch, size, size, 3)`` (channels-first if that is
Keras' image data format) normalised like the model's pretrained config, labels int32 ``(batch,)``.
Preprocessing follows timm's data config of the model (or tag): training takes a random resized crop
(scale 0.08-1, aspect 3/4-4/3) and a horizontal flip; evaluation resizes the shorter side to
``size / crop_pct`` with the config's interpolation and takes the centre ``size x size`` crop.
"""

from __future__ import annotations

import logging
import os
import re

from keras_senet._deprecation import reject_unknown, renamed
from keras_senet.preprocessing import INTERPOLATIONS  # noqa: F401  (keras_senet.data.INTERPOLATIONS, as in 0.1)
from keras_senet.preprocessing import PreprocessingConfig, eval_transform, preprocessing_of

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
TFDS_PREFIX = "tfds:"
_SPLIT = re.compile(r"^(?P<name>[A-Za-z0-9_\-]*)(\[(?P<start>-?\d+)?%?:(?P<end>-?\d+)?%?\])?$")
_log = logging.getLogger("keras_senet.data")


# Kept for keras-senet 0.1 callers: the config class is `keras_senet.preprocessing.PreprocessingConfig`.
Preprocessing = PreprocessingConfig


def preprocessing_config(model="seresnet50", *, input_size=None, mean=None, std=None, interpolation=None,
                         crop_pct=None, image_size=None) -> PreprocessingConfig:
    """The `PreprocessingConfig` of a registry name (optionally ``name.tag``), a model built by
    keras-senet (the config it carries), or a `PreprocessingConfig`; keyword arguments override single
    fields (``image_size`` is the deprecated spelling of ``input_size``).

    A model that carries no config (not built by keras-senet) is a ValueError: pass a registry name or
    a `PreprocessingConfig` instead.
    """
    return preprocessing_of(model, input_size=input_size or image_size, mean=mean, std=std,
                            interpolation=interpolation, crop_pct=crop_pct)


def load_dataset(source, split="train", *, model="seresnet50", batch_size=32, training=None,
                 input_size=None, crop_pct=None, interpolation=None, shuffle=None, seed=None, cache=False,
                 strict=False, verify=True, flip=True, crop_scale=(0.08, 1.0), rand_augment=False,
                 class_names=None, drop_remainder=None, data_dir=None, download=True, **deprecated):
    """A batched, prefetched `tf.data.Dataset` of ``(images, labels)`` for `model`.

    Args:
        source: ``"tfds:NAME"`` (any TFDS image-classification dataset with supervised keys, e.g.
            ``"tfds:oxford_flowers102"``, ``"tfds:cifar10"``), or a directory of class sub-folders of
            JPEG/PNG (BMP, GIF) images: ``ROOT/<class>/*.jpg``, or ``ROOT/<split>/<class>/*.jpg``.
            Symbolic links are followed only when they lead inside ``ROOT`` (others are skipped and
            logged); a file or folder reached twice (a link loop) counts once.
        split: TFDS split (slicing allowed: ``"train[:90%]"``); for a folder the sub-folder of that
            name, or ``None`` / ``"all"`` for ``ROOT`` itself, with the same ``[a%:b%]`` slicing (taken
            per class from a fixed shuffle of the file list, so two slices never overlap). Default
            ``"train"``.
        model: registry name (``"seresnet50"``, ``"seresnet50.a1_in1k"``), a model built by keras-senet
            (it carries its config) or a `PreprocessingConfig`, whose preprocessing (input size,
            mean/std, interpolation, crop_pct) to use.
        batch_size: global batch size (with a `tf.distribute` strategy: per-replica size times
            ``strategy.num_replicas_in_sync``). Default 32.
        training: augment (random resized crop, flip), shuffle each epoch and drop the last partial
            batch. Default: ``split`` starts with ``"train"``.
        input_size, crop_pct, interpolation: override the model's configuration (``image_size=`` is
            the deprecated 0.1 spelling of ``input_size``).
        shuffle: shuffle each epoch; default `training`.
        seed: seed of shuffling and augmentation.
        cache: keep decoded images in memory (True) or in a file (a path) after the first epoch.
        strict: raise ValueError on any undecodable image in a folder instead of skipping it.
        verify: decode every folder image once up front (parallel) so corrupt files are known before
            training; the skipped ones are listed in ``ds.skipped_files``. With ``verify=False`` the
            pipeline skips undecodable files as it meets them (``ignore_errors``) and the cardinality
            is unknown.
        flip: random horizontal flip in training (turn off for e.g. digits or text).
        crop_scale: area fraction range of the training random resized crop.
        rand_augment: also apply `keras.layers.RandAugment` in training.
        class_names: fix the class list (and label order) of a folder; default: sorted sub-folder
            names (across all split folders of ``ROOT`` when a split folder is used).
        drop_remainder: default `training`.
        data_dir, download: TFDS data directory, and whether to download/prepare a TFDS dataset.

    Returns:
        A `tf.data.Dataset` with attributes ``class_names`` (list of str), ``num_classes``,
        ``num_examples`` (examples after skipping), ``skipped_files`` (list of paths) and
        ``preprocessing`` (`Preprocessing`).

    Raises:
        ValueError: a missing source, a folder without images, an unknown TFDS dataset or split, bad
            arguments; with ``strict=True``, corrupt images.
    """
    import tensorflow as tf

    if not isinstance(source, (str, os.PathLike)) or not str(source):
        raise ValueError(f"source must be 'tfds:NAME' or a directory path, got {source!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (len(crop_scale) == 2 and 0 < crop_scale[0] <= crop_scale[1] <= 1):
        raise ValueError(f"crop_scale must be (low, high) with 0 < low <= high <= 1, got {crop_scale!r}")
    input_size = renamed("load_dataset", deprecated, "image_size", "input_size", input_size)
    reject_unknown("load_dataset", deprecated)
    config = preprocessing_config(model, input_size=input_size, crop_pct=crop_pct, interpolation=interpolation)
    source = os.fspath(source)
    if training is None:
        training = str(split or "").startswith("train")
    shuffle = training if shuffle is None else shuffle
    drop_remainder = training if drop_remainder is None else drop_remainder

    if source.startswith(TFDS_PREFIX):
        raw, names, count, skipped = _tfds_source(source[len(TFDS_PREFIX):], split, shuffle, seed, data_dir,
                                                  download)
    else:
        raw, names, count, skipped = _folder_source(source, split, shuffle, seed, strict, verify, class_names)
    if cache:
        raw = raw.cache(cache if isinstance(cache, str) else "")
    if shuffle:
        # File lists are shuffled before decoding; decoded (cached / TFDS) examples need a buffer.
        buffer = min(count, 10_000) if (cache or source.startswith(TFDS_PREFIX)) else 0
        if buffer > 1:
            raw = raw.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if training:
        # Stateless ops fed by a seed stream that differs every epoch (a stateful op with a fixed seed
        # would repeat the same crops each time Keras re-creates the iterator).
        transform = _train_transform(config, flip, crop_scale)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(raw, seeds).map(lambda example, pair: (transform(example[0], pair), example[1]),
                                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    else:
        transform = eval_transform(config)
        ds = raw.map(lambda image, label: (transform(image), label), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if training and rand_augment:
        ds = _rand_augment(ds, config, seed)
    ds = ds.map(_normalizer(config), num_parallel_calls=tf.data.AUTOTUNE)
    if count and (count // batch_size if drop_remainder else 1) == 0:
        raise ValueError(f"{source} ({split}): {count} examples is fewer than one batch of {batch_size} "
                         "with drop_remainder=True; lower batch_size.")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options).prefetch(tf.data.AUTOTUNE)
    ds.class_names, ds.num_classes, ds.num_examples = list(names), len(names), count
    ds.skipped_files, ds.preprocessing = skipped, config
    return ds


def _parse_split(split):
    """``"train[10%:90%]"`` -> ("train", 0.1, 0.9)."""
    match = _SPLIT.match(str(split).replace(" ", "")) if split is not None else None
    if split is not None and not match:
        raise ValueError(f"split={split!r}: use a name with an optional percent slice, e.g. 'train', "
                         "'train[:90%]', 'train[90%:]'.")
    if split is None:
        return None, 0.0, 1.0
    start, end = match.group("start"), match.group("end")
    start = int(start) / 100 if start else 0.0
    end = int(end) / 100 if end else 1.0
    start, end = (start + 1 if start < 0 else start), (end + 1 if end < 0 else end)
    if not 0 <= start < end <= 1:
        raise ValueError(f"split={split!r}: the slice must select a non-empty part of 0%..100%.")
    return match.group("name"), start, end


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _subdirs(path):
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _class_images(folder, data_root):
    """The image files under class `folder`, sorted, each real file once.

    Symbolic links (to files or folders) are followed only when they resolve inside `data_root`: a link
    out of the data set is skipped, and a folder reached twice (a loop such as ``ln -s . loop``, or two
    links to one place) is walked once, so a data set never grows and slices never share files.
    """
    root = os.path.realpath(data_root)
    seen_dirs, seen_files, paths, outside = set(), set(), [], []
    pending = [folder]
    while pending:
        current = pending.pop()
        real = os.path.realpath(current)
        if not _inside(real, root):
            outside.append(current)
            continue
        if real in seen_dirs or not os.path.isdir(real):
            continue
        seen_dirs.add(real)
        entries = sorted(os.scandir(current), key=lambda e: e.name)
        for entry in entries:
            if entry.is_dir():  # follows links; checked against the root when popped
                pending.append(entry.path)
            elif entry.is_file() and _is_image(entry.name):
                target = os.path.realpath(entry.path)
                if not _inside(target, root):
                    outside.append(entry.path)
                elif target not in seen_files:
                    seen_files.add(target)
                    paths.append(entry.path)
    if outside:
        _log.warning("skipped %d symbolic link(s) leading out of %s, e.g. %s", len(outside), data_root,
                     outside[0])
    return sorted(paths)


def _folder_files(source, split, class_names):
    """(class folder root, class names, [(path, label)]) of a folder split."""
    if not os.path.isdir(source):
        what = "is not a directory" if os.path.exists(source) else "does not exist"
        raise ValueError(f"Dataset folder {source!r} {what}. Pass a directory of class sub-folders "
                         "(ROOT/<class>/*.jpg or ROOT/<split>/<class>/*.jpg) or 'tfds:NAME'.")
    name, start, end = _parse_split(split)
    root = source
    if name not in (None, "", "all"):
        root = os.path.join(source, name)
        if not os.path.isdir(root):
            raise ValueError(f"Dataset folder {source!r} has no split folder {name!r} (sub-folders: "
                             f"{', '.join(_subdirs(source)) or 'none'}). Use split=None for a folder whose "
                             "sub-folders are the classes.")
    if class_names is None:
        if root != source:  # the union over the sibling split folders keeps label indices consistent
            class_names = sorted({c for s in _subdirs(source) for c in _subdirs(os.path.join(source, s))})
        else:
            class_names = _subdirs(root)
    class_names = list(class_names)
    files = []
    import random

    for label, cls in enumerate(class_names):
        paths = _class_images(os.path.join(root, cls), source)
        random.Random(f"{cls}").shuffle(paths)  # fixed per-class order: slices never overlap
        paths = paths[int(round(start * len(paths))):int(round(end * len(paths)))]
        files.extend((p, label) for p in paths)
    if not files:
        loose = [f for f in os.listdir(root) if _is_image(f)]
        hint = (f" It holds {len(loose)} images directly: put them in one sub-folder per class."
                if loose else "")
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in class sub-folders of {root!r}"
                         f" (split {split!r}; classes found: {', '.join(class_names) or 'none'}).{hint}")
    return root, class_names, files


def _decode(path):
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image.set_shape((None, None, 3))
    return image


def _verify(paths):
    """The subset of `paths` that decode as images (one parallel decoding pass)."""
    import tensorflow as tf

    def check(path):
        image = _decode(path)
        tf.debugging.assert_positive(tf.size(image), message="empty image")
        return path

    checked = (tf.data.Dataset.from_tensor_slices(paths).map(check, num_parallel_calls=tf.data.AUTOTUNE)
               .ignore_errors().batch(4096))
    return {p.decode() for batch in checked.as_numpy_iterator() for p in batch}


def _folder_source(source, split, shuffle, seed, strict, verify, class_names):
    import tensorflow as tf

    _, names, files = _folder_files(source, split, class_names)
    paths, labels = [p for p, _ in files], [label for _, label in files]
    skipped = []
    if verify:
        good = _verify(paths)
        skipped = [p for p in paths if p not in good]
        if skipped and strict:
            raise ValueError(f"{len(skipped)} of {len(paths)} images in {source!r} cannot be decoded: "
                             f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
        if skipped:
            _log.warning("Skipping %d undecodable image(s) of %d in %s: %s", len(skipped), len(paths), source,
                         ", ".join(skipped[:5]))
        keep = [i for i, p in enumerate(paths) if p in good]
        if not keep:
            raise ValueError(f"None of the {len(paths)} images in {source!r} can be decoded.")
        paths, labels = [paths[i] for i in keep], [labels[i] for i in keep]
    ds = tf.data.Dataset.from_tensor_slices((paths, tf.constant(labels, tf.int32)))
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda p, y: (_decode(p), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    if not verify:
        ds = ds.ignore_errors(log_warning=True)
    return ds, names, len(paths), skipped


def _tfds_source(name, split, shuffle, seed, data_dir, download):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if not name:
        raise ValueError("source 'tfds:' needs a dataset name, e.g. 'tfds:cifar10'.")
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        import difflib

        close = difflib.get_close_matches(name.split("/")[0], tfds.list_builders(), n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown TFDS dataset {name!r}.{hint} See tfds.list_builders().") from None
    info = builder.info
    if not info.supervised_keys or len(info.supervised_keys) != 2:
        raise ValueError(f"TFDS dataset {name!r} has no (image, label) supervised keys; it is not an image "
                         "classification dataset.")
    image_key, label_key = info.supervised_keys
    label = info.features[label_key]
    if not hasattr(label, "num_classes"):
        raise ValueError(f"TFDS dataset {name!r}: label feature {label_key!r} is not a ClassLabel.")
    split_name, _, _ = _parse_split(split)
    if download:
        try:
            builder.download_and_prepare()
        except Exception as error:  # TFDS raises whatever its downloader meets (offline: import errors too)
            raise RuntimeError(f"TFDS dataset {name!r} could not be downloaded and prepared into "
                               f"{builder.data_dir} ({type(error).__name__}: {error}). Check the network, or "
                               "prepare it on a machine that has one and pass data_dir=... with "
                               "download=False.") from None
    elif not builder.is_prepared():
        raise ValueError(f"TFDS dataset {name!r} is not prepared in {builder.data_dir} and download=False; pass "
                         "download=True (CLI: default) to download it, or data_dir=... where it is prepared.")
    if info.splits and split_name not in info.splits:
        raise ValueError(f"TFDS dataset {name!r} has no split {split_name!r}; splits: "
                         f"{', '.join(sorted(info.splits))}.")
    try:
        ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=shuffle,
                                read_config=tfds.ReadConfig(shuffle_seed=seed))
    except (ValueError, KeyError) as error:
        raise ValueError(f"TFDS dataset {name!r}, split {split!r}: {error}") from None
    count = info.splits[split].num_examples if info.splits else int(ds.cardinality())

    def to_rgb(image, y):
        image = tf.cond(tf.shape(image)[-1] == 1, lambda: tf.image.grayscale_to_rgb(image),
                        lambda: image[..., :3])
        image = tf.cast(image, tf.uint8) if image.dtype != tf.uint8 else image
        image.set_shape((None, None, 3))
        return image, tf.cast(y, tf.int32)

    ds = ds.map(to_rgb, num_parallel_calls=tf.data.AUTOTUNE)
    return ds, list(label.names), count, []


def _resize(image, size, method):
    import tensorflow as tf

    return tf.image.resize(image, size, method=method, antialias=True)


def _train_transform(config, flip, crop_scale):
    """Random resized crop (area in `crop_scale`, aspect 3/4..4/3) + optional flip -> float32 [0, 255].

    Takes ``(image, seed)``, `seed` an int64 pair: stateless, so reproducible for a given seed stream.
    """
    import tensorflow as tf

    size = config.input_size

    def transform(image, seed):
        seed = tf.cast(seed, tf.int64)
        begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image), bounding_boxes=tf.zeros((1, 0, 4)), seed=seed, min_object_covered=0.0,
            aspect_ratio_range=(3 / 4, 4 / 3), area_range=tuple(crop_scale), max_attempts=10,
            use_image_if_no_bounding_boxes=True)
        image = tf.slice(image, begin, crop_size)
        image = tf.ensure_shape(_resize(image, (size, size), config.interpolation), (size, size, 3))
        if flip:
            image = tf.image.stateless_random_flip_left_right(image, seed=seed[::-1])
        return tf.clip_by_value(image, 0.0, 255.0)

    return transform


def _rand_augment(ds, config, seed):
    import keras
    import tensorflow as tf

    layer = keras.layers.RandAugment(value_range=(0, 255), seed=seed)
    return ds.map(lambda x, y: (layer(x), y), num_parallel_calls=tf.data.AUTOTUNE)


def _normalizer(config):
    import keras
    import numpy as np
    import tensorflow as tf

    mean = np.asarray(config.mean, "float32") * 255.0
    std = np.asarray(config.std, "float32") * 255.0
    channels_first = keras.config.image_data_format() == "channels_first"

    def normalize(images, labels):
        images = (tf.cast(images, tf.float32) - mean) / std
        if channels_first:
            images = tf.transpose(images, (0, 3, 1, 2))
        return images, labels

    return normalize

