"""Choosing which checkpoints of a run to publish, from ``--select`` spec strings.

Pure functions over a :class:`TrainingRun`; no I/O. Every chosen checkpoint carries the reasons it was
chosen (shown by ``--dry-run``). Only epochs whose checkpoint exists are ever selected.

Epoch numbers in specs are the framework's own (timm: the ``checkpoint-N`` / summary.csv ``epoch`` value,
from 0; OpenCLIP: ``epoch_N``, from 1). ``every:K`` counts *completed* epochs (K, 2K, …) in both.
"""

from __future__ import annotations

import math
import re

from hubkit import frameworks
from hubkit.errors import InputError
from hubkit.runs.model import CheckpointInfo, SelectedCheckpoint, Selection, TrainingRun

DEFAULT_SELECT = "key:6"  # first, best, last + 3 epochs of largest metric change (early / middle / late)
KEY_MIN, KEY_MAX = 3, 100  # key:K must leave room for first, best and last

# form -> meaning. The CLI shows this table when a spec is wrong (source: hubkit's own selection rules).
SELECT_FORMS: dict[str, str] = {
    "key:K": f"first, best and last epoch plus the epochs where the metric changes most, spread over early, "
    f"middle and late training; K total ({KEY_MIN}..{KEY_MAX}; default {DEFAULT_SELECT})",
    "all": "every checkpoint found",
    "last": "the last checkpoint",
    "best": "the checkpoint with the best primary metric",
    "every:K": "every K-th completed epoch (K, 2K, ...), where its checkpoint exists",
    "uniform:K": "K checkpoints evenly spaced from first to last",
    "log:K": "K checkpoints log-spaced from first to last (dense early)",
    "epochs:A,B,...": "exactly these epochs (framework numbering); each must have a checkpoint",
}

_SPEC_RE = re.compile(r"^(all|last|best|key|every|uniform|log|epochs)(?::(.*))?$")


def _bad_spec(spec: str, why: str) -> InputError:
    forms = "; ".join(f"{kind} ({meaning})" for kind, meaning in SELECT_FORMS.items())
    return InputError(f"invalid --select spec {spec!r}: {why}", hint=f"Valid forms: {forms}")


def _positive_int(spec: str, text: str | None, lo: int = 1, hi: int = 100_000) -> int:
    if text is None or not text.strip().isdigit():
        raise _bad_spec(spec, "expected a whole number after ':'")
    value = int(text)
    if not lo <= value <= hi:
        raise _bad_spec(spec, f"the number must be between {lo} and {hi}")
    return value


def _completed(run: TrainingRun, epoch: int) -> int:
    """Completed-epoch count of a framework epoch number (timm counts from 0, OpenCLIP from 1)."""
    return frameworks.get(run.framework).completed_epochs(epoch)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


class _Picker:
    """Collects chosen checkpoints with their reasons, in a deterministic order."""

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        self.reasons: dict[int, list[str]] = {}

    def add(self, ckpt: CheckpointInfo, reason: str) -> None:
        self.reasons.setdefault(ckpt.epoch, []).append(reason)

    def result(self, spec: str, missing: tuple[int, ...] = ()) -> Selection:
        items = tuple(
            SelectedCheckpoint(checkpoint=c, reasons=tuple(self.reasons[c.epoch]))
            for c in self.run.checkpoints
            if c.epoch in self.reasons
        )
        return Selection(spec=spec, items=items, missing=missing)


def _best_checkpoint(run: TrainingRun) -> tuple[CheckpointInfo, float] | None:
    scored = [(c, c.metrics.get(run.primary_metric)) for c in run.checkpoints if c.metrics is not None]
    valid = [(c, v) for c, v in scored if v is not None]
    if not valid:
        return None
    sign = -1.0 if run.higher_is_better else 1.0
    return min(valid, key=lambda cv: (sign * cv[1], cv[0].epoch))


def _nearest(ckpts: tuple[CheckpointInfo, ...], target: float) -> CheckpointInfo:
    return min(ckpts, key=lambda c: (abs(c.epoch - target), c.epoch))


def _spaced(run: TrainingRun, picker: _Picker, k: int, targets: list[float], label: str) -> None:
    ckpts = run.checkpoints
    for target in targets:
        chosen = _nearest(ckpts, target)
        if chosen.epoch not in picker.reasons:
            picker.add(chosen, f"{label} (target epoch {target:.1f})")
        if len(picker.reasons) >= k:
            break


def _key(run: TrainingRun, picker: _Picker, k: int) -> None:
    ckpts = run.checkpoints
    metric = run.primary_metric
    first, last = ckpts[0], ckpts[-1]
    picker.add(first, "first epoch with a checkpoint")
    best = _best_checkpoint(run)
    if best is not None:
        picker.add(best[0], f"best {metric} = {_fmt(best[1])}")
    picker.add(last, "last epoch with a checkpoint")

    # Change of the metric since the previous recorded epoch, for every checkpointed epoch.
    values = {m.epoch: m.get(metric) for m in run.epochs}
    recorded = sorted(e for e, v in values.items() if v is not None)
    changes: list[tuple[CheckpointInfo, float, int]] = []
    for ckpt in ckpts:
        value = values.get(ckpt.epoch)
        earlier = [e for e in recorded if e < ckpt.epoch]
        if value is None or not earlier:
            continue
        prev = earlier[-1]
        delta = value - values[prev]  # type: ignore[operator]
        if delta != 0:  # an epoch where nothing changed says nothing about training dynamics
            changes.append((ckpt, delta, prev))

    # Split the checkpointed span into thirds and take the largest change in each third in turn, so the
    # selection shows early, middle and late training even when one phase dominates the changes.
    span = max(last.epoch - first.epoch, 1)
    phases: dict[str, list[tuple[CheckpointInfo, float, int]]] = {"early": [], "middle": [], "late": []}
    for entry in changes:
        pos = (entry[0].epoch - first.epoch) / span
        phase = "early" if pos < 1 / 3 else "middle" if pos < 2 / 3 else "late"
        phases[phase].append(entry)
    for entries in phases.values():
        entries.sort(key=lambda e: (-abs(e[1]), e[0].epoch))
    while len(picker.reasons) < k and any(phases.values()):
        for phase, entries in phases.items():
            while entries and entries[0][0].epoch in picker.reasons:
                entries.pop(0)  # already chosen (first/best/last or an earlier round)
            if entries and len(picker.reasons) < k:
                ckpt, delta, prev = entries.pop(0)
                picker.add(
                    ckpt, f"largest {metric} change in {phase} training: {delta:+.4g} since epoch {prev}"
                )


def parse_select_spec(spec: str) -> tuple[str, str | None]:
    """Check a ``--select`` spec's form and argument without a run; returns ``(form, argument)``.

    Raises:
        InputError: the spec is malformed (the message lists the valid forms).

    Example:
        >>> parse_select_spec("key:6")
        ('key', '6')
    """
    text = spec.strip().lower().replace(" ", "")
    match = _SPEC_RE.match(text)
    if not match:
        raise _bad_spec(spec, "unknown form")
    kind, arg = match.group(1), match.group(2)
    if kind in ("all", "last", "best") and arg is not None:
        raise _bad_spec(spec, f"'{kind}' takes no ':' argument")
    if kind == "key":
        _positive_int(spec, arg, KEY_MIN, KEY_MAX)
    elif kind in ("every", "uniform", "log"):
        _positive_int(spec, arg)
    elif kind == "epochs":
        _epoch_list(spec, arg)
    return kind, arg


def _epoch_list(spec: str, arg: str | None) -> list[int]:
    if not arg:
        raise _bad_spec(spec, "expected a comma-separated list of epochs, e.g. epochs:1,5,10")
    try:
        wanted = sorted({int(part) for part in arg.split(",") if part != ""})
    except ValueError:
        raise _bad_spec(spec, "epochs must be whole numbers separated by commas") from None
    if not wanted:
        raise _bad_spec(spec, "no epochs given")
    return wanted


def select_checkpoints(run: TrainingRun, spec: str | None = None) -> Selection:
    """Choose checkpoints of ``run`` by a ``--select`` spec (see :data:`SELECT_FORMS`).

    Args:
        run: a run from :func:`hubkit.runs.read_run`.
        spec: ``key:K`` (default ``key:6``), ``all``, ``last``, ``best``, ``every:K``, ``uniform:K``,
            ``log:K`` or ``epochs:A,B,...``.

    Returns:
        A :class:`Selection` in ascending epoch, each item with the reasons it was chosen.

    Raises:
        InputError: the spec is malformed (the message lists the valid forms), or ``epochs:`` names an
            epoch without a checkpoint.

    Example:
        >>> sel = select_checkpoints(run, "key:5")
        >>> [(i.epoch, i.reasons[0]) for i in sel.items][:1]
        [(0, 'first epoch with a checkpoint')]
    """
    raw = DEFAULT_SELECT if spec is None else spec
    kind, arg = parse_select_spec(raw)
    if not run.checkpoints:
        raise InputError(
            f"{run.path} has no checkpoints to select from", hint="Point hubkit at a run with checkpoints."
        )

    picker = _Picker(run)
    ckpts = run.checkpoints
    if kind == "all":
        for c in ckpts:
            picker.add(c, "all checkpoints")
        return picker.result("all")
    if kind == "last":
        picker.add(ckpts[-1], "last epoch with a checkpoint")
        return picker.result("last")
    if kind == "best":
        best = _best_checkpoint(run)
        if best is None:
            raise InputError(
                f"no checkpoint of {run.path} has a recorded {run.primary_metric}",
                hint="Use --select last or epochs:N instead.",
            )
        picker.add(best[0], f"best {run.primary_metric} = {_fmt(best[1])}")
        return picker.result("best")
    if kind == "key":
        k = _positive_int(raw, arg, KEY_MIN, KEY_MAX)
        _key(run, picker, k)
        return picker.result(f"key:{k}")
    if kind == "every":
        k = _positive_int(raw, arg)
        have = {c.epoch for c in ckpts}
        all_epochs = sorted({m.epoch for m in run.epochs} | have)
        wanted = [e for e in all_epochs if _completed(run, e) % k == 0]
        for c in ckpts:
            if c.epoch in wanted:
                picker.add(c, f"every {k} epochs (completed epoch {_completed(run, c.epoch)})")
        missing = tuple(e for e in wanted if e not in have)
        return picker.result(f"every:{k}", missing)
    if kind in ("uniform", "log"):
        k = _positive_int(raw, arg)
        lo, hi = ckpts[0].epoch, ckpts[-1].epoch
        if k == 1:
            targets = [float(hi)]
        elif kind == "uniform":
            targets = [lo + (hi - lo) * i / (k - 1) for i in range(k)]
        else:
            # log spacing over completed epochs (>= 1), mapped back to framework numbering
            shift = _completed(run, lo) - lo
            a, b = math.log(max(lo + shift, 1)), math.log(max(hi + shift, 1))
            targets = [math.exp(a + (b - a) * i / (k - 1)) - shift for i in range(k)]
        _spaced(run, picker, k, targets, "uniformly spaced" if kind == "uniform" else "log-spaced")
        return picker.result(f"{kind}:{k}")
    # epochs:A,B,...
    wanted_list = _epoch_list(raw, arg)
    have_map = {c.epoch: c for c in ckpts}
    absent = [e for e in wanted_list if e not in have_map]
    if absent:
        raise InputError(
            f"{run.path} has no checkpoint for epoch(s) {', '.join(map(str, absent))}",
            hint=f"Epochs with checkpoints: {', '.join(str(c.epoch) for c in ckpts)} "
            f"({run.framework} numbering).",
        )
    for e in wanted_list:
        picker.add(have_map[e], "asked for by epochs:")
    return picker.result("epochs:" + ",".join(map(str, wanted_list)))
