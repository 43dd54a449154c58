"""keras-hub's RetinaNet over an SE backbone learns the synthetic shapes (issue 13): mAP@0.5 on held-out images.

    python -m benchmarks.shapes_retinanet [--backbone seresnet18] [--train 1536] [--val 256] [--epochs 6]
        [--size 64] [--batch 16] [--threads 2] [--json retinanet.json]

`keras_senet.shapes.make_shapes` generates the training images (seed 0) and the validation images (seed 1);
the detector is `keras_hub.models.RetinaNetObjectDetector` over `keras_senet.hub.SEBackbone(backbone)`
(random weights: nothing downloaded), pyramid levels P3..P5 with anchors of 16, 32 and 64 pixels
(``anchor_size=2``: keras-hub's default of 4 suits 512-pixel images, not 64), two convolutions per head,
keras-hub's own losses (focal and Huber), Adam with a cosine schedule. Detections come from keras-hub's
`NonMaxSuppression` (score >= 0.05, IoU 0.5); the score is `keras_senet.shapes.average_precision` at IoU
0.5 (neither Keras nor keras-hub has a detection mAP metric). Not a timed test: it prints the wall time.
"""

import argparse
import json
import os
import time


def _arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="seresnet18")
    parser.add_argument("--train", type=int, default=1536)
    parser.add_argument("--val", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the figures here")
    return parser.parse_args(argv)


def build_detector(backbone_name, size, num_classes):
    """RetinaNet (keras-hub) over our SE backbone's P3..P5, sized for `size`-pixel images."""
    import keras_hub

    from keras_senet.hub import SEBackbone

    encoder = SEBackbone(backbone_name, out_indices=(2, 3, 4), image_shape=(size, size, 3))
    backbone = keras_hub.models.RetinaNetBackbone(image_encoder=encoder, min_level=3, max_level=5, use_p5=False,
                                                  image_shape=(size, size, 3))
    anchors = keras_hub.layers.AnchorGenerator("xyxy", min_level=3, max_level=5, num_scales=3,
                                               aspect_ratios=[0.5, 1.0, 2.0], anchor_size=2)
    decoder = keras_hub.layers.NonMaxSuppression("xyxy", from_logits=True, iou_threshold=0.5,
                                                 confidence_threshold=0.05, max_detections=20)
    return keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=num_classes, bounding_box_format="xyxy", anchor_generator=anchors,
        pre_logits_num_conv_layers=2, prediction_decoder=decoder)


def main(argv=None):
    args = _arguments(argv)
    for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[variable] = str(args.threads)
    import keras
    import numpy as np

    import keras_senet as ks
    from keras_senet.shapes import CLASSES, average_precision, make_shapes

    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    train = make_shapes(args.train, size=args.size, seed=0)
    val = make_shapes(args.val, size=args.size, seed=1)

    def inputs(images):
        return ks.preprocess_input(images.astype("float32"), model=args.backbone)

    detector = build_detector(args.backbone, args.size, len(CLASSES))
    steps = args.epochs * -(-args.train // args.batch)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, steps)
    detector.compile(optimizer=keras.optimizers.Adam(schedule, global_clipnorm=10.0), jit_compile=False)
    targets = {"boxes": train.boxes, "labels": train.labels.astype("float32")}
    history = detector.fit(inputs(train.images), targets, batch_size=args.batch, epochs=args.epochs, verbose=2)
    detections = detector.predict(inputs(val.images), batch_size=64, verbose=0)
    labels = np.where(np.arange(detections["labels"].shape[1]) < detections["num_detections"][:, None],
                      detections["labels"], -1)
    mean_ap, per_class = average_precision(val.boxes, val.labels, detections["boxes"], labels,
                                           detections["confidence"], len(CLASSES), iou_threshold=0.5)
    result = {
        "backbone": args.backbone, "train_images": args.train, "val_images": args.val, "size": args.size,
        "epochs": args.epochs, "final_train_loss": float(history.history["loss"][-1]),
        "map_50": mean_ap, "ap_50": dict(zip(CLASSES, per_class)),
        "detections_per_image": float(np.mean(detections["num_detections"])),
        "parameters": int(detector.count_params()), "wall_s": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)
    return result


if __name__ == "__main__":
    main()
