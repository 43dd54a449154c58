"""The synthetic shapes data set: masks, boxes and labels agree, shapes have their geometric areas, and a
seed gives the same images everywhere."""

import numpy as np
import pytest

from keras_senet.shapes import CLASSES, _shape_mask, average_precision, box_iou, make_shapes


@pytest.fixture(scope="module")
def data():
    return make_shapes(60, size=64, max_objects=3, seed=7)


def test_arrays_have_the_documented_shapes_and_types(data):
    assert data.images.shape == (60, 64, 64, 3) and data.images.dtype == np.uint8
    assert data.masks.shape == data.instances.shape == (60, 64, 64) and data.masks.dtype == np.int32
    assert data.boxes.shape == (60, 3, 4) and data.boxes.dtype == np.float32
    assert data.labels.shape == (60, 3) and data.labels.dtype == np.int32 and len(data) == 60


def test_each_box_is_the_extent_of_its_objects_pixels_and_the_mask_holds_its_label(data):
    for i in range(len(data)):
        objects = int((data.labels[i] >= 0).sum())
        assert 1 <= objects <= 3
        assert (data.labels[i, objects:] == -1).all() and (data.boxes[i, objects:] == -1).all()
        assert data.instances[i].max() == objects
        for k in range(objects):
            rows, cols = np.nonzero(data.instances[i] == k + 1)
            assert rows.size >= 16
            x_min, y_min, x_max, y_max = data.boxes[i, k]
            assert (x_min, y_min, x_max, y_max) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            assert (data.masks[i][rows, cols] == data.labels[i, k] + 1).all()
        assert ((data.masks[i] == 0) == (data.instances[i] == 0)).all()


def test_objects_never_touch(data):
    """Each object is one region apart from the others (4-neighbours of different objects never meet)."""
    inst = data.instances
    for a, b in ((inst[:, 1:, :], inst[:, :-1, :]), (inst[:, :, 1:], inst[:, :, :-1])):
        assert not ((a > 0) & (b > 0) & (a != b)).any()


def test_every_class_appears_with_varied_sizes_and_colours(data):
    counts = np.bincount(data.labels[data.labels >= 0], minlength=len(CLASSES))
    assert (counts >= 10).all(), counts
    widths = (data.boxes[..., 2] - data.boxes[..., 0])[data.labels >= 0]
    assert widths.min() <= 14 and widths.max() >= 26
    background = data.images[data.masks == 0].reshape(-1, 3)
    assert background.std(axis=0).min() > 20  # textured, not a flat colour


@pytest.mark.parametrize("name, area", [("circle", np.pi), ("square", 2.0), ("triangle", 3 * np.sqrt(3) / 4),
                                        ("star", 5 * 0.45 * np.sin(np.pi / 5))])
def test_shapes_have_their_geometric_area(name, area):
    """Pixel count of a shape of circumradius r against its area in units of r**2 (star: inner radius
    0.45 r, ten triangles of area r * 0.45 r * sin(36 deg) / 2)."""
    ys, xs = np.mgrid[0:200, 0:200] + 0.5
    mask = _shape_mask(CLASSES.index(name), xs, ys, 100.0, 100.0, 80.0, 0.3, np.random.default_rng(0))
    assert mask.sum() == pytest.approx(area * 80.0**2, rel=0.01)


def test_a_seed_gives_the_same_images_and_a_larger_set_extends_a_smaller(data):
    again = make_shapes(60, size=64, max_objects=3, seed=7)
    first = make_shapes(5, size=64, max_objects=3, seed=7)
    other = make_shapes(5, size=64, max_objects=3, seed=8)
    for field in ("images", "masks", "instances", "boxes", "labels"):
        np.testing.assert_array_equal(getattr(again, field), getattr(data, field))
        np.testing.assert_array_equal(getattr(first, field), getattr(data, field)[:5])
    assert not np.array_equal(other.images, first.images)


@pytest.mark.parametrize("kwargs, message", [
    ({"count": 0}, r"count must be an integer >= 1, got 0"),
    ({"count": 2, "size": 16}, r"size must be an integer >= 32, got 16"),
    ({"count": 2, "max_objects": 0}, r"max_objects must be an integer >= 1, got 0"),
    ({"count": 2, "seed": -1}, r"seed must be a non-negative integer, got -1"),
    ({"count": 2, "min_radius": 20, "max_radius": 10}, r"min_radius=20, max_radius=10: need 3 <= min_radius"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_shapes(**kwargs)


def test_average_precision_on_a_worked_example():
    """Class 0: ground truth A, B in image 0 and C in image 1; detections by score: p1 = A (TP), p2
    overlaps the already matched A by IoU 0.82 (FP), p3 meets C at IoU exactly 0.5 (TP), p4 hits
    nothing (FP). Precision 1, 1/2, 2/3, 1/2 at recall 1/3, 1/3, 2/3, 2/3; its monotone envelope
    1, 2/3, 2/3, 1/2; AP = 1/3 * 1 + 1/3 * 2/3 = 5/9 (B is never found). Class 1: one box, found
    exactly: AP 1. Class 2 has no ground truth (its stray detection is ignored): AP None."""
    true_boxes = np.array([[[0, 0, 10, 10], [20, 20, 30, 30]], [[0, 0, 10, 10], [40, 40, 50, 50]]], float)
    true_labels = np.array([[0, 0], [0, 1]])
    pred_boxes = np.array([[[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 0, 0]],
                           [[0, 0, 10, 20], [40, 40, 50, 50], [5, 5, 9, 9], [0, 0, 0, 0]]], float)
    pred_labels = np.array([[0, 0, 0, -1], [0, 1, 2, -1]])
    pred_scores = np.array([[0.9, 0.8, 0.6, 0.0], [0.7, 0.3, 0.95, 0.0]])
    assert box_iou(pred_boxes[0, 1:2], true_boxes[0, :1])[0, 0] == pytest.approx(90 / 110)
    mean, per_class = average_precision(true_boxes, true_labels, pred_boxes, pred_labels, pred_scores, 3)
    assert per_class[0] == pytest.approx(5 / 9) and per_class[1] == 1.0 and per_class[2] is None
    assert mean == pytest.approx((5 / 9 + 1) / 2)
    _, strict = average_precision(true_boxes, true_labels, pred_boxes, pred_labels, pred_scores, 3,
                                  iou_threshold=0.51)
    assert strict[0] == pytest.approx(1 / 3)  # p3 no longer matches C: only A of three boxes found
