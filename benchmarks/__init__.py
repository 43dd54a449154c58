"""Benchmarks of keras-senet against timm: `python -m benchmarks.run` (see benchmarks/NOTES.md)."""
