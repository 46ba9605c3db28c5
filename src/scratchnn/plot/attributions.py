"""Attributions (scratchnn.explain, SHAP): a heat map over an image, or bars / a waterfall for features."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..backend.namespace import to_numpy
from ._common import SHAP_NEGATIVE, SHAP_POSITIVE, axes, finish


def plot_attributions(attributions, image=None, feature_names: Sequence[str] | None = None, features=None,
                      base_value: float | None = None, kind: str = "auto", top: int = 10, title: str | None = None,
                      colorbar: bool = True, label: str = "attribution", ax=None, path=None):
    """Attributions as a heat map over an image, or as bars / a waterfall for tabular features.

    Images: (H, W) or (H, W, C) attributions (summed over channels) over ``image`` in grey, with a colour
    bar: signed values red for evidence for the target and blue against, on a diverging scale centred at 0;
    values that are never negative (saliency) white to red from 0.
    Tabular: ``kind="bar"`` the ``top`` largest by size; ``kind="waterfall"`` (the default when
    ``base_value`` is given) steps from the expected output ``base_value`` to E[f(X)] + the sum of the
    attributions, one feature at a time, the rest summed; ``features`` adds each feature's value to its name.
    ``label`` names what the values attribute ("attribution to the probability of class 1"): the colour
    bar's label, or the x axis's.
    Returns the matplotlib Figure (drawn into ``ax`` when given, written to ``path`` when given).
    """
    values = to_numpy(attributions).astype(float)
    if kind == "auto":
        kind = "image" if values.ndim >= 2 else ("waterfall" if base_value is not None else "bar")
    if kind not in ("image", "bar", "waterfall"):
        raise ValueError(f"plot_attributions: kind must be 'auto', 'image', 'bar' or 'waterfall', got {kind!r}")
    if kind == "image":
        if values.ndim not in (2, 3):
            raise ValueError(f"plot_attributions: a heat map needs (H, W) or (H, W, C) values, got {values.shape}")
        return finish(_draw_heat_map(values, image, title, colorbar, label, ax), path)
    if values.ndim != 1:
        raise ValueError(f"plot_attributions: bars need one value per feature (1-D), got shape {values.shape}")
    if feature_names is not None and len(feature_names) != len(values):
        raise ValueError(f"plot_attributions: {len(values)} values but {len(feature_names)} feature names")
    names = list(feature_names) if feature_names is not None else [f"$X_{{{i + 1}}}$" for i in range(len(values))]
    if features is not None:
        names = [f"{n} = {v:.3g}" for n, v in zip(names, np.asarray(features, dtype=float))]
    if kind == "waterfall" and base_value is None:
        raise ValueError("plot_attributions: kind='waterfall' needs base_value (the expected output)")
    return finish(_draw_bars(values, names, top, kind, base_value, title, label, ax), path)


def _draw_heat_map(values, image, title, colorbar, label, ax):
    heat = values.sum(axis=-1) if values.ndim == 3 else values
    figure, ax = axes(ax, (3.6, 3.2))
    if image is not None:
        picture = np.asarray(image, dtype=float)
        ax.imshow(picture[..., 0] if picture.ndim == 3 and picture.shape[-1] == 1 else picture, cmap="gray_r")
    limit = max(np.abs(heat).max(), 1e-12)
    signed = heat.min() < 0
    shown = ax.imshow(heat, cmap="bwr" if signed else "Reds", vmin=-limit if signed else 0, vmax=limit,
                      alpha=0.65 if image is not None else 1.0)
    if colorbar:
        bar = figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        bar.set_label(label, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return figure


def _draw_bars(values, names, top, kind, base_value, title, label, ax):
    order = np.argsort(-np.abs(values))
    shown = order[:top]
    rest = order[top:]
    labels = [names[i] for i in shown] + ([f"{len(rest)} other features"] if len(rest) else [])
    heights = list(values[shown]) + ([values[rest].sum()] if len(rest) else [])
    figure, ax = axes(ax, (6.5, 0.9 + 0.36 * len(labels)))
    rows = np.arange(len(labels))[::-1]
    colors = [SHAP_POSITIVE if h >= 0 else SHAP_NEGATIVE for h in heights]
    if kind == "bar":
        ax.barh(rows, heights, color=colors)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(label)
    else:
        ends = base_value + np.cumsum(heights[::-1])[::-1]        # the bottom row starts at base_value
        starts = ends - np.array(heights)
        ax.barh(rows, heights, left=starts, color=colors)
        for row, start, height in zip(rows, starts, heights):
            ax.text(start + height, row, f" {height:+.3f} ", va="center", fontsize=7, zorder=3,
                    ha="left" if height >= 0 else "right", bbox={"pad": 0, "facecolor": "white", "edgecolor": "none"})
        ax.axvline(base_value, color="grey", linestyle=":", linewidth=1, zorder=1)
        prediction = base_value + float(np.sum(heights))
        ax.axvline(prediction, color="black", linestyle="--", linewidth=1, zorder=1)
        ax.set_xlabel(f"output: E[f(X)] = {base_value:.3f} → E[f(X)] + Σ attributions = {prediction:.3f}")
        span = max(abs(e) for e in np.concatenate([ends, starts]) - base_value)
        ax.set_xlim(min(starts.min(), ends.min()) - 0.2 * span, max(starts.max(), ends.max()) + 0.2 * span)
    ax.set_yticks(rows)
    ax.set_yticklabels(labels, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure
