"""The SE paper as a tool: attention into any Keras CNN (`add_attention`), and what the gates say (`excitations`)."""

from keras_senet.analysis.add_attention import add_attention, attention_overhead, insertion_points
from keras_senet.analysis.excitations import Excitations, attention_layers, excitations, gate_model

__all__ = ["Excitations", "add_attention", "attention_layers", "attention_overhead", "excitations", "gate_model",
           "insertion_points"]
