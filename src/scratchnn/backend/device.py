"""Devices: where a model's arrays live and how data moves there and back (the CPU with NumPy, a GPU with CuPy).

A ``Device`` names an array module and the two moves a model needs: ``asarray`` (host data -> the device,
once per batch) and ``to_numpy`` (device -> host: predictions, saved weights, metrics), plus ``synchronize``
(wait for queued work: timings). The layers never ask which device they are on: they take their module from
their arrays (``backend.namespace``), so the same forward and backward run on either.

    get_device("cpu")      NumPy (also "numpy")
    get_device("gpu")      CuPy on the current CUDA device (also "cupy"), built on first use
    use("gpu")             the default device of new models (``Sequential(..., device=None)``)
    register_device(dev)   another device by name (the tests register one backed by a strict namespace)

Without CuPy, or without a CUDA device, asking for the GPU raises one line naming what is missing.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from .._optional import require
from .namespace import namespace, to_numpy as host_copy

__all__ = ["Device", "get_device", "register_device", "unregister_device", "use", "default_device",
           "available_devices", "GPUUnavailableError"]

ALIASES = {"numpy": "cpu", "cupy": "gpu", "cuda": "gpu"}


class GPUUnavailableError(RuntimeError):
    """The GPU device was asked for where CuPy is missing or no CUDA device is visible."""


class Device:
    """An array module and the moves between it and the host.

    Args:
        name: what ``model.to(name)`` and ``device=`` take ("cpu", "gpu", or a registered name).
        module: the array module of the device's arrays (``numpy``, ``cupy``, an array-API namespace).
        asarray: host (or device) array -> an array of this device, dtype kept; default ``module.asarray``.
        to_numpy: an array of this device -> a NumPy array on the host; default ``backend.to_numpy``.
        synchronize: wait until the device has finished queued work (nothing to wait for on the CPU).
    """

    def __init__(self, name: str, module: ModuleType, asarray: Callable | None = None,
                 to_numpy: Callable | None = None, synchronize: Callable[[], None] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Device: name must be a non-empty string, got {name!r}")
        self.name, self.module = name, module
        self._asarray = asarray if asarray is not None else module.asarray
        self._to_numpy = to_numpy if to_numpy is not None else host_copy
        self._synchronize = synchronize

    @property
    def is_cpu(self) -> bool:
        """True for NumPy itself: the device whose arrays the fast CPU kernels take."""
        return self.module is np

    def asarray(self, array):
        """``array`` as an array of this device (no copy when it is one already). On the CPU an array keeps
        its own array-API module (a model on the CPU takes what it is given, as before devices existed)."""
        if array is None:
            return None
        if self.is_cpu:
            return namespace(array).asarray(array)
        return self._asarray(array)

    def to_numpy(self, array) -> np.ndarray:
        """A NumPy array of the same values on the host (None stays None)."""
        return None if array is None else self._to_numpy(array)

    def synchronize(self) -> None:
        """Block until the device has finished the work queued so far (timings need it on a GPU)."""
        if self._synchronize is not None:
            self._synchronize()

    def __repr__(self) -> str:
        return f"Device({self.name!r}, module={self.module.__name__})"


def _numpy_device() -> Device:
    return Device("cpu", np, asarray=np.asarray, to_numpy=np.asarray)


def _cupy_device() -> Device:
    """CuPy on its current CUDA device; one-line errors when CuPy or the device is missing."""
    try:
        cupy = require("cupy", "device='gpu'")
    except ImportError as error:
        raise GPUUnavailableError(str(error)) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:                         # CUDARuntimeError: no driver, or no device
        raise GPUUnavailableError(f"no CUDA device found: cupy.cuda.runtime.getDeviceCount() failed "
                                  f"({type(error).__name__}: {error})") from None
    if count == 0:
        raise GPUUnavailableError("no CUDA device found: cupy.cuda.runtime.getDeviceCount() == 0")
    return Device("gpu", cupy, asarray=cupy.asarray, to_numpy=cupy.asnumpy,
                  synchronize=cupy.cuda.get_current_stream().synchronize)


_FACTORIES: dict[str, Callable[[], Device]] = {"cpu": _numpy_device, "gpu": _cupy_device}
_DEVICES: dict[str, Device] = {}
_lock = threading.Lock()
_default = "cpu"


def _resolve_name(name: str) -> str:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in _FACTORIES and key not in _DEVICES:
        known = sorted({*_FACTORIES, *_DEVICES, *ALIASES})
        raise ValueError(f"unknown device {name!r}; the devices are {known}")
    return key


def get_device(device: Any = None) -> Device:
    """A Device from a name ("cpu", "gpu", "numpy", "cupy", a registered name), a Device, or None (the
    default set by ``use``). The GPU device is made on first use (importing CuPy, finding a device)."""
    if device is None:
        device = _default
    if isinstance(device, Device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a name such as 'cpu' or 'gpu', or a Device, got {type(device).__name__}")
    found = _DEVICES.get(device)
    if found is not None:                              # the common case, once per batch: no lock
        return found
    key = _resolve_name(device)
    with _lock:
        if key not in _DEVICES:
            _DEVICES[key] = _FACTORIES[key]()
        return _DEVICES[key]


def register_device(device: Device) -> Device:
    """Make ``device`` known by its name (``model.to(name)``); a name already taken is an error."""
    if not isinstance(device, Device):
        raise TypeError(f"register_device expected a Device, got {type(device).__name__}")
    key = device.name.lower()
    with _lock:
        if key in _FACTORIES or key in ALIASES or key in _DEVICES:
            raise ValueError(f"a device called {device.name!r} is already registered")
        _DEVICES[key] = device
    return device


def unregister_device(name: str) -> None:
    """Forget a device made by ``register_device`` (the default falls back to "cpu" if it was that one)."""
    global _default
    key = name.lower()
    with _lock:
        if key in _FACTORIES or key not in _DEVICES:
            raise ValueError(f"{name!r} is not a registered device")
        del _DEVICES[key]
        if _default == key:
            _default = "cpu"


def use(device: Any) -> Device:
    """Set the default device of the models made from now on: "cpu" / "numpy" or "gpu" / "cupy" (or a
    registered name). It is checked at once: ``use("gpu")`` without CuPy or a GPU raises, changing nothing."""
    global _default
    resolved = get_device(device)
    _default = resolved.name.lower()
    return resolved


def default_device() -> Device:
    """The device new models are placed on (the CPU unless ``use`` changed it)."""
    return get_device(None)


def available_devices() -> list[str]:
    """The device names that work here now ("cpu", and "gpu" where CuPy finds a CUDA device)."""
    names = []
    for key in sorted({*_FACTORIES, *_DEVICES}):
        try:
            get_device(key)
        except GPUUnavailableError:
            continue
        names.append(key)
    return names
