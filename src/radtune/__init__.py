"""radtune: raw radiology data in, a training-ready dataset and a fine-tuned VLM out."""

__version__ = "0.1.0"
