"""The device a model runs on, and ``model.to(device)``: its arrays move there, its data follows per batch.

A model keeps the *name* of its device (so it pickles and copies as before); ``model.device`` is the
``backend.Device``. Moving converts every layer's params, grads and buffers and the optimizer's state
(slots, scratch buffers, the backup of the last step). Data stays on the host until a batch is used: the
model's forward moves x (``_as_input``), the trainer moves y for the loss, and brings predictions back for
``predict`` and for the metrics, which add up on the host (one transfer per batch).
"""
from __future__ import annotations

from ..backend import Device, get_device, namespace, to_numpy


def _mover(device: Device):
    """array -> the same values as an array of ``device`` (returned as is when it is one already)."""
    def move(array):
        if namespace(array) is device.module:
            return array
        return device.asarray(to_numpy(array))             # through the host: device A -> NumPy -> device B
    return move


class DeviceMixin:
    """``to(device)``, ``device`` and the per-batch moves of a model (mixed into Sequential and Model)."""

    _device_name = "cpu"

    @property
    def device(self) -> Device:
        """The ``backend.Device`` the model's arrays live on."""
        return get_device(self._device_name)

    def to(self, device):
        """Move the model (weights, gradients, buffers, optimizer state) to ``device`` and return it.

        ``device``: "cpu" (NumPy), "gpu" (CuPy), a name given to ``backend.register_device``, or a
        ``backend.Device``. An unbuilt model moves when it is built. ``fit``, ``evaluate`` and ``predict``
        then take host (NumPy) data as before; ``predict`` returns NumPy unless ``to_numpy=False``.

        >>> import scratchnn as snn
        >>> from scratchnn import layers
        >>> model = snn.Sequential([layers.Dense(2)], input_shape=(3,)).to("cpu")
        >>> model.device.name
        'cpu'
        """
        self._place(device)
        return self

    def _place(self, device) -> None:
        """Record the device (at construction: the given one, or ``backend.use``'s) and move there."""
        target = get_device(device)
        if get_device(target.name) is not target:
            raise ValueError(f"{target!r} is not the device registered as {target.name!r}: pass its name, or "
                             "register it first with scratchnn.backend.register_device")
        self._device_name = target.name
        self._move_arrays()

    def _move_arrays(self) -> None:
        """Put every array of the built layers and of the optimizer on the model's device."""
        if not getattr(self, "built", False):
            return
        move, moved = _mover(self.device), {}
        for layer in self.unique_layers():
            layer.to_device(move, moved)
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not isinstance(optimizer, str):
            optimizer.slots = [{name: move(array) for name, array in slots.items()} for slots in optimizer.slots]
            optimizer._scratch = [move(array) for array in optimizer._scratch]
            if getattr(optimizer, "_backup", None):                 # the copy a rolled-back step restores
                optimizer._backup = [move(array) for array in optimizer._backup]
            if getattr(optimizer, "_spare", None):                  # a staged step's arrays beside the slots
                optimizer._spare = [{name: move(array) for name, array in spare.items()} for spare in optimizer._spare]

    def _on_device(self, data):
        """One batch of targets (an array, a list of arrays, or None) on the model's device."""
        device = self.device
        if isinstance(data, (list, tuple)):
            return [device.asarray(array) for array in data]
        return device.asarray(data)

    def _to_host(self, data):
        """Outputs (an array, a list or a dict of arrays) as NumPy arrays on the host."""
        device = self.device
        if isinstance(data, dict):
            return {key: device.to_numpy(array) for key, array in data.items()}
        if isinstance(data, (list, tuple)):
            return [device.to_numpy(array) for array in data]
        return device.to_numpy(data)
