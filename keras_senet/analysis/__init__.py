"""The SE paper as a tool: attention into any Keras CNN (`add_attention`), and what the gates say (`excitations`)."""

from keras_senet.analysis.add_attention import add_attention, attention_overhead, insertion_points

__all__ = ["add_attention", "attention_overhead", "insertion_points"]
