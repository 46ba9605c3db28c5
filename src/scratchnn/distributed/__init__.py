"""Beyond one process: data-parallel training and parallel hyperparameter trials on Ray (the ``ray`` extra).

>>> from scratchnn.distributed import RayStrategy          # imports no Ray until a fit or a search starts
>>> RayStrategy(num_workers=2).num_workers
2

- ``model.fit(x, y, strategy=RayStrategy(num_workers=W, cpus_per_worker=k, address=None))``: W Ray actors,
  each computing its part of every global batch; the gradients averaged through the object store
  (reduce.py), the same update applied on every worker; checkpoints as model files, dead workers replaced.
- ``search(build, space, x, y, ...)``: a grid or random search, each trial segment a Ray task, bad trials
  stopped early by ASHA or the median rule, the best model saved (``scratchnn tune CONFIG`` from the shell).

docs/guide/distributed.md has the guide, the measurements and the scaling model.
"""
from __future__ import annotations

from .cluster import ClusterError, connect
from .search import ASHA, MedianStopping, SearchResult, grid, sample_space, search
from .strategy import RayStrategy

__all__ = ["RayStrategy", "ClusterError", "connect", "search", "SearchResult", "ASHA", "MedianStopping", "grid",
           "sample_space"]
