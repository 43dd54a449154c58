"""What the low-memory export tests share: a small SE-ResNet saved as ``.keras`` and a folder of calibration
pictures (tests/test_export_low_memory.py, tests/test_export_pieces.py)."""

from export_models import small_model
from images import smooth_images
from randomise import randomise_weights

SIZE = 32


def saved_seresnet(folder):
    """A small SE-ResNet (random weights, logits out) saved as ``folder/m.keras``: (its path, the model)."""
    model = randomise_weights(small_model("seresnet18", size=SIZE, classes=4, classifier_activation=None))
    path = folder / "m.keras"
    model.save(path)
    return str(path), model


def image_folder(root, per_class):
    """`root` with class folders ``a`` and ``b`` of `per_class` smooth PNG pictures each (calibration images)."""
    import PIL.Image

    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for index, image in enumerate(smooth_images(per_class, SIZE, SIZE, seed=ord(label))):
            PIL.Image.fromarray(image).save(root / label / f"{index}.png")
    return root
