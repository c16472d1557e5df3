"""A :class:`DynamicsReport` for people: a rich table for the terminal and a few plain-text lines."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from hubkit.dynamics.model import DynamicsReport, GroupDynamics, KindSeries

if TYPE_CHECKING:
    from rich.table import Table

MAX_COLUMNS = 8  # checkpoint columns shown in the terminal (the last ones); JSON and the picture hold all


def fmt_change(value: float | None) -> str:
    """``‖Δw‖/‖w‖`` as a short string: ``0`` for bitwise unchanged, ``—`` when undefined.

    Example:
        >>> fmt_change(0.01234), fmt_change(0.0), fmt_change(None)
        ('0.0123', '0', '—')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value == 0:
        return "0"
    if math.isinf(value):
        return "inf"
    return f"{value:.3g}"


def frozen_mark(group: GroupDynamics) -> str:
    """``frozen`` / ``frozen (expected)`` / ``expected frozen!`` / ``trains`` for one group."""
    expected = group.expected is not None and group.expected.frozen
    if group.frozen:
        return "frozen (expected)" if expected else "frozen"
    return "CHANGED, expected frozen" if expected else "trains"


def _buffers(series: KindSeries | None) -> str:
    if series is None:
        return ""
    return "frozen" if series.frozen else f"moved ({fmt_change(series.max_rel_change)})"


def table(report: DynamicsReport, *, width: int | None = None) -> Table:
    """The report as a rich table: one row per group, ‖Δw‖/‖w‖ from the previous checkpoint per column.

    Args:
        width: the terminal's width: as many of the last checkpoints as fit unwrapped are shown (at most
            :data:`MAX_COLUMNS`, at least one); None shows :data:`MAX_COLUMNS`.

    Example:
        >>> rich.print(table(report, width=80))
    """
    from rich.console import Console
    from rich.measure import Measurement

    columns = MAX_COLUMNS
    wide = Console(width=10_000)  # measures the table's natural width (a narrow one caps the measure)
    while True:
        out = _table(report, columns)
        if width is None or columns == 1 or Measurement.get(wide, wide.options, out).maximum <= width:
            return out
        columns -= 1


def _table(report: DynamicsReport, columns: int) -> Table:
    from rich.table import Table

    refs = report.checkpoints
    shown = list(range(max(1, len(refs) - columns), len(refs)))
    title = f"{report.subject} — ‖Δw‖/‖w‖ from the previous checkpoint ({report.scheme})"
    if len(shown) < len(refs) - 1:
        title += f"; the last {len(shown)} of {len(refs) - 1} steps (--json and -o have them all)"
    out = Table(title=title, title_justify="left")
    out.add_column("group")
    out.add_column("params")
    for i in shown:
        out.add_column(refs[i].label, justify="right")
    out.add_column("cos→final", justify="right")
    out.add_column("buffers")
    for group in report.groups:
        series = group.params or group.buffers
        if series is None:
            continue
        cells = []
        for i in shown:
            step = series.steps[i]
            text = fmt_change(step.rel_change_prev)
            cells.append(f"[bold red]{text}![/]" if step.jump else text)
        first = series.steps[0].cos_final
        mark = frozen_mark(group)
        style = "red" if mark.startswith("CHANGED") else "cyan" if group.frozen else ""
        out.add_row(
            group.name,
            f"[{style}]{mark}[/]" if style else mark,
            *cells,
            "—" if first is None else f"{first:.3f}",
            _buffers(group.buffers),
        )
    return out


def summary_lines(report: DynamicsReport) -> list[str]:
    """Findings, jumps, frozen groups expected vs observed and unchanged shares, one line each.

    Example:
        >>> summary_lines(report)[0]
        'frozen groups: observed conv1+bn1, layer1; expected conv1+bn1, layer1 (--lock ...)'
    """
    settings = " ".join(report.lock_settings) or "no lock settings"
    lines = [
        f"frozen groups: observed {', '.join(report.frozen_observed) or 'none'}; "
        f"expected {', '.join(report.frozen_expected) or 'none'} ({settings})"
    ]
    shares = [
        f"{ref.label} {share:.0%}"
        for ref, share in zip(report.checkpoints, report.unchanged_share(), strict=True)
        if share is not None
    ]
    if shares:
        lines.append("unchanged from the previous checkpoint: " + ", ".join(shares))
    for finding in report.findings:
        lines.append(("MISMATCH: " if finding.failed else "note: ") + finding.message)
    for group in report.groups:
        for series in (group.params, group.buffers):
            for ref, step in zip(report.checkpoints, series.steps if series else (), strict=False):
                if step.jump:
                    lines.append(
                        f"jump: {group.name} {series.kind if series else ''} at {ref.label}: {step.jump}"
                    )
    lines.extend(f"note: {note}" for note in report.notes)
    count = len(report.checkpoints)
    lines.append(
        f"{count} checkpoint{'s' if count != 1 else ''}, {report.bytes_read / 2**20:,.1f} MiB read "
        f"in {report.seconds:.2f} s"
    )
    return lines
