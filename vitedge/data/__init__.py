"""Calibration / evaluation data: folders of images, .npz and IDX (MNIST) files, as uint8 at a model's input size."""
from vitedge.data.dataset import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
