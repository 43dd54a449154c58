"""The model's preprocessing: its config (travels with the model) and the one eval transform."""

from keras_senet.preprocessing.config import INTERPOLATIONS, PreprocessingConfig
from keras_senet.preprocessing.lookup import for_model, preprocessing_of
from keras_senet.preprocessing.transform import eval_transform, load_images, normalize

__all__ = ["INTERPOLATIONS", "PreprocessingConfig", "eval_transform", "for_model", "load_images", "normalize",
           "preprocessing_of"]
