"""The one label decoder: metrics, losses, plots and the command line agree on what a label is."""
from __future__ import annotations

import numpy as np


def class_indices(y, name: str = "labels", num_classes: int | None = None) -> np.ndarray:
    """Integer class labels, shape (N,), from any form a label takes in scratchnn.

    - integer labels, (N,) or (N, 1), whole numbers >= 0 (ints or whole floats);
    - one-hot rows or per-class scores / probabilities, (N, K) with K > 1: the argmax of each row;
    - probabilities of class 1, (N,) or (N, 1), with values in [0, 1] that are not all whole: >= 0.5 is 1.

    Anything else (negative labels, other fractions, NaN, text) is a ValueError naming ``name``; with
    ``num_classes`` given, labels must also be below it.

    >>> class_indices([2, 0, 1]).tolist(), class_indices([[0.1, 0.9], [0.8, 0.2]]).tolist()
    ([2, 0, 1], [1, 0])
    >>> class_indices([0.2, 0.7]).tolist()
    [0, 1]
    """
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected class labels, one-hot rows or probabilities, got dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] > 1:
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError(f"{name}: the scores contain NaN or inf")
        labels = y.argmax(axis=1)
    elif y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise ValueError(f"{name}: expected shape (N,), (N, 1) or (N, K), got {y.shape}")
    else:
        values = y.reshape(-1)
        if values.dtype.kind == "f":
            if not np.isfinite(values).all():
                raise ValueError(f"{name}: the labels contain NaN or inf")
            whole = values == np.round(values)
            if not whole.all():
                if values.min() < 0 or values.max() > 1:
                    bad = values[~whole][0]
                    raise ValueError(f"{name}: expected whole class labels >= 0 or probabilities in [0, 1], "
                                     f"got {bad:g}")
                values = (values >= 0.5)
        if values.size and values.min() < 0:
            raise ValueError(f"{name}: expected class labels >= 0, got {values.min():g}")
        labels = values.astype(np.intp)
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        raise ValueError(f"{name}: labels go up to {int(labels.max())} but there are {num_classes} classes")
    return labels.astype(np.intp, copy=False)



def name_indices(names, name: str = "labels", class_names=None) -> tuple[np.ndarray, list[str]]:
    """Labels given as class names (``yes`` / ``no``, ``setosa``...) as class indices, and the class names.

    The classes are the distinct names in sorted order, or ``class_names`` when given (the names a model
    was trained with; a name outside them is a ValueError naming ``name``). Names are compared as text.

    >>> indices, classes = name_indices(["yes", "no", "yes"])
    >>> indices.tolist(), classes
    ([1, 0, 1], ['no', 'yes'])
    """
    values = [str(value) for value in np.asarray(names, dtype=object).reshape(-1)]
    classes = sorted(set(values)) if class_names is None else [str(c) for c in class_names]
    position = {label: index for index, label in enumerate(classes)}
    unknown = sorted(set(values) - set(position))
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        raise ValueError(f"{name}: labels {shown} are not among the model's classes ({', '.join(classes)})")
    return np.array([position[value] for value in values], dtype=np.intp), classes
