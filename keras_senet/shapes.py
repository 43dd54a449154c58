"""A synthetic detection and segmentation data set, generated on the fly: shapes on textured backgrounds.

    from keras_senet.shapes import make_shapes, CLASSES
    data = make_shapes(512, size=64, seed=0)
    data.images     # (512, 64, 64, 3) uint8
    data.masks      # (512, 64, 64) int32: 0 background, 1 + class index per pixel
    data.boxes      # (512, 3, 4) float32 "xyxy" pixels (x_min, y_min, x_max, y_max), -1 padding
    data.labels     # (512, 3) int32 class index, -1 padding

Each image has 1 to `max_objects` shapes (circle, square, triangle, ellipse, star) of random size,
position, rotation and colour, none overlapping another, on a background of random colour gratings and
noise, so neither colour nor position gives the class away. A box is exactly the extent of its shape's
pixels (x_max and y_max exclusive); image ``i`` depends only on ``(seed, i)``, so a data set is the same
on every machine and a larger one extends a smaller one.

Hand-written rasterisation in NumPy (no drawing library in the core dependencies): each shape is an
analytic inside-test at the pixel centres, so masks and boxes agree by construction.
"""

from __future__ import annotations

import dataclasses

import numpy as np

CLASSES = ("circle", "square", "triangle", "ellipse", "star")
MIN_SIZE = 32


@dataclasses.dataclass(frozen=True)
class ShapesData:
    """Images with their per-pixel masks and per-object boxes and labels (see the module docstring).

    Attributes:
        images: ``(n, size, size, 3)`` uint8 RGB.
        masks: ``(n, size, size)`` int32, 0 for background, ``1 + label`` inside a shape.
        instances: ``(n, size, size)`` int32, 0 for background, ``1 + k`` inside the image's k-th object.
        boxes: ``(n, max_objects, 4)`` float32 ``(x_min, y_min, x_max, y_max)`` in pixels, the extent of
            the object's pixels (max exclusive); rows of -1 after the image's last object.
        labels: ``(n, max_objects)`` int32 index into `CLASSES`; -1 after the last object.
    """

    images: np.ndarray
    masks: np.ndarray
    instances: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.images)


def _polygon_inside(xs, ys, vertices):
    """Even-odd rule at points (xs, ys) for a closed polygon ``(k, 2)`` of (x, y) vertices."""
    inside = np.zeros(xs.shape, bool)
    x0, y0 = vertices[-1]
    for x1, y1 in vertices:
        crosses = (y0 > ys) != (y1 > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xs < x_at)
        x0, y0 = x1, y1
    return inside


def _regular(points, radius, angle, inner=None):
    """Vertices of a regular polygon (or a star with `inner` radius), centred on the origin."""
    count = points * (2 if inner else 1)
    theta = angle + np.arange(count) * 2 * np.pi / count
    r = np.where(np.arange(count) % 2 == 1, inner, radius) if inner else np.full(count, radius)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], -1)


def _shape_mask(label, xs, ys, cx, cy, radius, angle, rng):
    """Boolean mask of shape `label` centred at (cx, cy) with circumradius `radius` (pixels)."""
    dx, dy = xs - cx, ys - cy
    name = CLASSES[label]
    if name == "circle":
        return dx**2 + dy**2 <= radius**2
    if name == "ellipse":
        ratio = rng.uniform(0.4, 0.65)
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        return (u / radius) ** 2 + (v / (radius * ratio)) ** 2 <= 1
    if name == "square":
        vertices = _regular(4, radius, angle)
    elif name == "triangle":
        vertices = _regular(3, radius, angle)
    else:  # star
        vertices = _regular(5, radius, angle, inner=radius * 0.45)
    return _polygon_inside(dx, dy, vertices)


def _background(rng, size, xs, ys):
    """A random base colour plus two or three colour gratings and pixel noise, ``(size, size, 3)`` float."""
    image = np.broadcast_to(rng.uniform(40, 215, 3), (size, size, 3)).copy()
    for _ in range(rng.integers(2, 4)):
        frequency = rng.uniform(0.05, 0.5)
        direction = rng.uniform(0, 2 * np.pi)
        wave = np.sin(frequency * (xs * np.cos(direction) + ys * np.sin(direction)) + rng.uniform(0, 2 * np.pi))
        image += wave[..., None] * rng.uniform(-35, 35, 3)
    return image + rng.normal(0, 8, image.shape)


def _one_image(rng, size, max_objects, min_radius, max_radius):
    ys, xs = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    image = _background(rng, size, xs, ys)
    instances = np.zeros((size, size), np.int32)
    boxes, labels = [], []
    wanted = rng.integers(1, max_objects + 1)
    for _ in range(50 * max_objects):  # rejection sampling of non-overlapping placements
        if len(labels) == wanted:
            break
        label = int(rng.integers(len(CLASSES)))
        radius = rng.uniform(min_radius, max_radius)
        cx, cy = rng.uniform(radius, size - radius, 2)
        mask = _shape_mask(label, xs, ys, cx, cy, radius, rng.uniform(0, 2 * np.pi), rng)
        # one free pixel around the shape: objects never touch, so each mask region is one object
        grown = mask.copy()
        grown[1:, :] |= mask[:-1, :]
        grown[:-1, :] |= mask[1:, :]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        if mask.sum() < 16 or (grown & (instances > 0)).any():
            continue
        rows, cols = np.nonzero(mask)
        instances[mask] = len(labels) + 1
        colour = rng.uniform(0, 255, 3) + rng.normal(0, 8, (mask.sum(), 3))
        image[mask] = colour
        boxes.append((cols.min(), rows.min(), cols.max() + 1, rows.max() + 1))
        labels.append(label)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), instances, boxes, labels


def make_shapes(count, *, size=64, max_objects=3, seed=0, min_radius=None, max_radius=None):
    """`count` images of shapes with masks, boxes and labels (see `ShapesData`).

    Args:
        count: number of images (>= 1).
        size: image height and width in pixels (>= 32), default 64.
        max_objects: most shapes per image (each image has 1 to `max_objects`), default 3.
        seed: image ``i`` is generated from ``numpy.random.default_rng([seed, i])``.
        min_radius, max_radius: circumradius range of the shapes in pixels; default ``size / 10`` to
            ``size / 4``.

    Returns:
        `ShapesData`.
    """
    for name, value, low in (("count", count, 1), ("size", size, MIN_SIZE), ("max_objects", max_objects, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    min_radius = size / 10 if min_radius is None else min_radius
    max_radius = size / 4 if max_radius is None else max_radius
    if not 3 <= min_radius <= max_radius <= size / 2:
        raise ValueError(f"min_radius={min_radius!r}, max_radius={max_radius!r}: need 3 <= min_radius <= "
                         f"max_radius <= size / 2 = {size / 2}")
    images = np.zeros((count, size, size, 3), np.uint8)
    instances = np.zeros((count, size, size), np.int32)
    masks = np.zeros((count, size, size), np.int32)
    boxes = np.full((count, max_objects, 4), -1, np.float32)
    labels = np.full((count, max_objects), -1, np.int32)
    for i in range(count):
        rng = np.random.default_rng([int(seed), i])
        image, instance, image_boxes, image_labels = _one_image(rng, size, max_objects, min_radius, max_radius)
        images[i], instances[i] = image, instance
        lookup = np.array([0] + [label + 1 for label in image_labels], np.int32)
        masks[i] = lookup[instance]
        boxes[i, :len(image_boxes)] = image_boxes
        labels[i, :len(image_labels)] = image_labels
    return ShapesData(images=images, masks=masks, instances=instances, boxes=boxes, labels=labels)


def box_iou(boxes_a, boxes_b):
    """IoU of every box in ``(n, 4)`` `boxes_a` with every box in ``(m, 4)`` `boxes_b` ("xyxy"): ``(n, m)``."""
    a, b = np.asarray(boxes_a, np.float64)[:, None, :], np.asarray(boxes_b, np.float64)[None, :, :]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    intersection = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return intersection / np.maximum(area_a + area_b - intersection, 1e-12)


def average_precision(true_boxes, true_labels, pred_boxes, pred_labels, pred_scores, num_classes,
                      iou_threshold=0.5):
    """Per-class average precision at one IoU threshold (PASCAL VOC 2010+ "all points"), and its mean.

    Neither Keras nor keras-hub has a detection mAP metric (keras-cv's was not carried over), so this is
    the usual definition, hand-written and tested on a worked example: per class, detections of all
    images sorted by score (stable, so ties keep their order); a detection is a true positive when its IoU
    with an unmatched ground-truth box of its class in its image is >= `iou_threshold` (the best-overlapping
    box, as VOC), else a false positive; AP is the area under the precision-recall curve after making
    precision monotonically non-increasing.

    Args:
        true_boxes: ``(n, k, 4)`` "xyxy" boxes, rows with label -1 ignored (padding).
        true_labels: ``(n, k)`` class indices, -1 for padding.
        pred_boxes, pred_labels, pred_scores: ``(n, d, 4)``, ``(n, d)``, ``(n, d)`` detections; label -1
            for padding (keras-hub's `NonMaxSuppression` pads with -1).
        num_classes: classes 0 .. num_classes - 1.
        iou_threshold: default 0.5 (mAP@0.5).

    Returns:
        ``(mean_ap, per_class)``: the mean over classes that have ground truth, and a list of each class's
        AP (None for a class without ground truth).
    """
    per_class = []
    for c in range(num_classes):
        truths = [np.asarray(b)[np.asarray(lab) == c] for b, lab in zip(true_boxes, true_labels)]
        total = sum(len(t) for t in truths)
        if total == 0:
            per_class.append(None)
            continue
        found = [(float(s), i, np.asarray(b, np.float64))
                 for i, (boxes, labels, scores) in enumerate(zip(pred_boxes, pred_labels, pred_scores))
                 for b, lab, s in zip(boxes, labels, scores) if lab == c]
        found.sort(key=lambda item: -item[0])
        matched = [np.zeros(len(t), bool) for t in truths]
        hits = np.zeros(len(found))
        for j, (_, image, box) in enumerate(found):
            if len(truths[image]) == 0:
                continue
            overlaps = box_iou(box[None], truths[image])[0]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= iou_threshold and not matched[image][best]:
                matched[image][best] = True
                hits[j] = 1
        true_positives = np.cumsum(hits)
        recall = np.concatenate([[0.0], true_positives / total])
        precision = np.concatenate([[1.0], true_positives / np.arange(1, len(found) + 1)])
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # the monotone envelope
        per_class.append(float(np.sum((recall[1:] - recall[:-1]) * precision[1:])))
    scored = [ap for ap in per_class if ap is not None]
    return (float(np.mean(scored)) if scored else float("nan")), per_class
