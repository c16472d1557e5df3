"""The training-dynamics picture: a heatmap of groups × checkpoints and per-group curves.

Left: ‖Δw‖/‖w‖ from the previous checkpoint on a log colour scale; bitwise unchanged cells are grey and
frozen groups are marked in the row label (``❄`` observed frozen; red: the run claims the group frozen
but its weights or BatchNorm statistics moved); jumps are boxed. Right: each group's relative change from the first checkpoint. Rendered like the
training curves (matplotlib object API on the Agg canvas, no ``Software`` stamp), so the same report gives
the same PNG bytes.
"""

from __future__ import annotations

import io
import math

from hubkit.dynamics.model import DynamicsReport, GroupDynamics

DYNAMICS_FILENAME = "training_dynamics.png"


def _row_label(group: GroupDynamics) -> tuple[str, str]:
    """The heatmap row label and its colour: frozen groups marked, mismatches with the run's claims red."""
    expected = group.expected is not None and group.expected.frozen
    bn_moved = group.buffers is not None and group.buffers.changed
    if expected and not group.frozen:
        return f"! {group.name} (claimed frozen)", "tab:red"
    if expected and bn_moved:
        return f"❄ {group.name} (BN statistics moved)", "tab:red"
    if group.frozen:
        return (
            f"❄ {group.name}" if expected or group.expected is None else f"❄ {group.name} (unclaimed)"
        ), "tab:blue"
    return group.name, "black"


def render_dynamics(report: DynamicsReport, *, dpi: int = 100) -> bytes:
    """Render the report's heatmap and curves as PNG bytes.

    Example:
        >>> render_dynamics(report)[:4]
        b'\\x89PNG'
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    groups = [g for g in report.groups if (g.params or g.buffers) is not None]
    labels = [ref.label for ref in report.checkpoints]
    columns = max(1, len(labels) - 1)
    values = np.full((len(groups), columns), np.nan)
    jumps = []
    for r, group in enumerate(groups):
        series = group.params or group.buffers
        assert series is not None
        for c, step in enumerate(series.steps[1:]):
            if step.rel_change_prev is not None and math.isfinite(step.rel_change_prev):
                values[r, c] = step.rel_change_prev
            if step.jump:
                jumps.append((r, c))
    positive = values[np.isfinite(values) & (values > 0)]
    low, high = (float(positive.min()), float(positive.max())) if positive.size else (1e-6, 1.0)
    if high <= low:
        low, high = low / 10, high * 10

    height = max(3.0, 0.32 * len(groups) + 1.6)
    fig = Figure(figsize=(11.0, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    heat, curves = fig.subplots(1, 2, width_ratios=[1.2, 1.0])
    fig.suptitle(f"{report.subject} ({report.architecture}): training dynamics", fontsize=11)

    heat.imshow(np.ones_like(values), cmap="Greys", vmin=0, vmax=6, aspect="auto")  # grey: unchanged
    masked = np.ma.masked_where(~(np.isfinite(values) & (values > 0)), values)
    image = heat.imshow(masked, cmap="viridis", norm=LogNorm(vmin=low, vmax=high), aspect="auto")
    fig.colorbar(image, ax=heat, label="‖Δw‖/‖w‖ since the previous")
    labels_colours = [_row_label(g) for g in groups]
    heat.set_yticks(range(len(groups)), [text for text, _ in labels_colours], fontsize=8)
    heat.set_xticks(range(columns), labels[1:] or labels, rotation=45, ha="right", fontsize=8)
    for tick, (_, colour) in zip(heat.get_yticklabels(), labels_colours, strict=True):
        tick.set_color(colour)
    for r, c in jumps:
        heat.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="tab:red", lw=2))
    heat.set_title("❄ frozen · grey: bitwise unchanged · red: contradicts the lock · box: jump", fontsize=9)

    xs = list(range(len(labels)))
    for group in groups:
        series = group.params or group.buffers
        assert series is not None
        ys = [s.rel_change_first if s.rel_change_first else np.nan for s in series.steps]
        if any(np.isfinite(y) and y > 0 for y in ys):
            curves.plot(xs, ys, marker="o", markersize=3, lw=1, label=group.name)
    curves.set_yscale("log")
    curves.set_xticks(xs, labels, rotation=45, ha="right", fontsize=8)
    curves.set_ylabel("‖w − w₀‖/‖w₀‖ since the first")
    curves.grid(True, alpha=0.3)
    if curves.get_legend_handles_labels()[0]:
        curves.legend(fontsize=7, ncols=2 if len(groups) > 10 else 1)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
