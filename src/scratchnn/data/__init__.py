"""Input pipelines: a Dataset over arrays, memory-mapped .npy files or generators, batched, shuffled, mapped
and prefetched, that ``fit``, ``evaluate`` and ``predict`` take in place of arrays."""
from .dataset import Dataset

__all__ = ["Dataset"]
