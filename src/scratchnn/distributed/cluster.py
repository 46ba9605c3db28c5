"""Connecting to Ray: the optional import, a local cluster or a running one, and errors that name the address.

``connect(address)`` is called by every entry point of ``scratchnn.distributed`` before it starts an actor:

- ``None``: the Ray instance this process already joined, else a new local one (``ray.init``) with the
  usable cores of this machine;
- ``"auto"``: the cluster started on this machine with ``ray start --head`` (Ray finds its address);
- ``"HOST:PORT"`` (the head's GCS port, 6379 by default) or ``"ray://HOST:PORT"`` (the Ray Client port,
  10001 by default): a remote cluster. Its port is tried with a plain TCP connection first, so an
  unreachable head is an error naming the address within ``timeout`` seconds, not a retry loop.
"""
from __future__ import annotations

import os
import socket
import time

from .._optional import require


class ClusterError(ConnectionError):
    """The Ray cluster cannot be reached, or has too few CPUs for what was asked."""


def ray_module():
    """Ray, imported on first use (``import scratchnn`` never imports it)."""
    return require("ray", "scratchnn.distributed")


def _host_port(address: str):
    """(host, port) of "HOST:PORT" or "ray://HOST:PORT"; None for "auto" or anything without a port."""
    target = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def _check_reachable(address: str, timeout: float) -> None:
    host_port = _host_port(address)
    if host_port is None:
        return
    start = time.monotonic()
    try:
        with socket.create_connection(host_port, timeout=timeout):
            pass
    except OSError as error:
        waited = time.monotonic() - start
        raise ClusterError(f"cannot reach the Ray cluster at {address!r} ({error.strerror or error}, after "
                           f"{waited:.1f} s): start it with `ray start --head` on that machine, or check the "
                           "address and port (6379 for HOST:PORT, 10001 for ray://HOST:PORT)") from None


def connect(address: str | None = None, num_cpus: int | None = None, timeout: float = 10.0):
    """Join (or start) a Ray cluster and return the ray module."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if address is None:
        from ..backend import usable_cores
        ray.init(num_cpus=num_cpus or usable_cores(), include_dashboard=False, logging_level="warning")
        return ray
    _check_reachable(address, timeout)
    try:
        ray.init(address=address, logging_level="warning")
    except ConnectionError as error:
        raise ClusterError(f"cannot join the Ray cluster at {address!r}: {error}") from None
    return ray


def check_resources(ray, cpus: float, what: str) -> None:
    """Refuse at once (not wait forever) when the cluster has fewer CPUs than the actors need."""
    total = ray.cluster_resources().get("CPU", 0)
    if cpus > total:
        raise ClusterError(f"{what} needs {cpus:g} CPUs and the Ray cluster has {total:g}: use fewer workers, "
                           "fewer CPUs per worker, or a larger cluster")


def limit_threads(cpus: float) -> int:
    """In an actor or task: scratchnn's threads and BLAS's threads from the CPUs Ray gave it (at least one)."""
    from threadpoolctl import threadpool_limits

    from .. import backend
    threads = max(1, int(cpus))
    backend.set_num_threads(threads)
    threadpool_limits(limits=threads)         # not a context manager: the limit stays for the process
    return threads


def blas_threads() -> int:
    """The largest thread count among the loaded BLAS libraries (what a product may use)."""
    from threadpoolctl import threadpool_info
    return max((lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"), default=1)
