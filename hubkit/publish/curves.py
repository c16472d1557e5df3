"""The training-curve picture on ``main``: loss and the eval metric per epoch, published epochs marked.

Rendered with matplotlib's object API on the Agg canvas (no pyplot global state, no display), and without
the PNG ``Software`` stamp, so that the same run gives byte-identical PNGs and re-runs compare equal.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CurveData:
    """What the picture shows."""

    epochs: tuple[int, ...]  # (1, 2, 3, 4)
    losses: Mapping[
        str, Sequence[float | None]
    ]  # {"train_loss": [...], "eval_loss": [...]}, one value per epoch
    metric_name: str | None  # "eval_top1"; None when the run has no eval metric
    metric: Sequence[float | None]  # one value per epoch ([] when metric_name is None)
    published: tuple[int, ...]  # epochs that got their own revision: (2, 4)
    main_epoch: int | None  # the epoch on main, drawn with a stronger mark
    title: str  # "timm-digits (test_resnet)"


def _points(epochs: Sequence[int], values: Sequence[float | None]) -> tuple[list[int], list[float]]:
    pairs = [(e, float(v)) for e, v in zip(epochs, values, strict=False) if v is not None]
    return [e for e, _ in pairs], [v for _, v in pairs]


def render_curves(data: CurveData, *, dpi: int = 100) -> bytes:
    """Render the training curves as PNG bytes (deterministic for the same input and matplotlib).

    Example:
        >>> png = render_curves(CurveData((1, 2), {"train_loss": [1.0, 0.5]}, None, [], (2,), 2, "run"))
        >>> png[:4]
        b'\\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    panels = 2 if data.metric_name else 1
    fig = Figure(figsize=(5.0 * panels, 3.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    fig.suptitle(data.title, fontsize=11)

    loss_ax = axes[0]
    for name, values in data.losses.items():
        xs, ys = _points(data.epochs, values)
        if xs:
            loss_ax.plot(xs, ys, marker="o", markersize=3, label=name)
    loss_ax.set_ylabel("loss")
    if data.metric_name:
        xs, ys = _points(data.epochs, data.metric)
        axes[1].plot(xs, ys, marker="o", markersize=3, color="tab:green", label=data.metric_name)
        axes[1].set_ylabel(data.metric_name)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        for epoch in data.published:
            is_main = epoch == data.main_epoch
            ax.axvline(epoch, color="tab:red" if is_main else "0.6", linestyle="-" if is_main else "--", lw=1)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[0].plot([], [], color="0.6", linestyle="--", label="published revision")
    if data.main_epoch is not None:
        axes[0].plot([], [], color="tab:red", lw=1, label="on main")
    axes[0].legend(fontsize=8)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
