"""Checkpoint selection: every --select form, reasons, determinism, missing epochs, bad specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubkit.errors import InputError
from hubkit.runs import (
    SELECT_FORMS,
    CheckpointInfo,
    EpochMetrics,
    Hyperparams,
    TrainingRun,
    read_run,
    select_checkpoints,
)


def make_run(
    top1: list[float],
    *,
    with_ckpt: set[int] | None = None,
    framework: str = "timm",
    higher: bool = True,
) -> TrainingRun:
    """A run with one metric per epoch (timm numbering from 0, OpenCLIP from 1)."""
    first = 0 if framework == "timm" else 1
    epochs = tuple(EpochMetrics(first + i, {"eval_top1": v}) for i, v in enumerate(top1))
    have = with_ckpt if with_ckpt is not None else {m.epoch for m in epochs}
    ckpts = tuple(
        CheckpointInfo(epoch=m.epoch, path=Path(f"/r/checkpoint-{m.epoch}.pth.tar"), size=1, metrics=m)
        for m in epochs
        if m.epoch in have
    )
    return TrainingRun(
        framework=framework,  # type: ignore[arg-type]
        path=Path("/r"),
        name="r",
        architecture="test_resnet",
        num_classes=10,
        hyperparams=Hyperparams(),
        epochs=epochs,
        checkpoints=ckpts,
        primary_metric="eval_top1",
        higher_is_better=higher,
        args_file=Path("/r/args.yaml"),
    )


# A curve with a fast early rise, a middle bump and a late dip: 20 epochs.
CURVE = [10, 40, 55, 60, 62, 63, 64, 70, 71, 71.5, 72, 72.2, 72.3, 72.4, 74, 74.1, 73, 73.5, 73.6, 73.7]


def test_default_is_key6_with_first_best_last() -> None:
    run = make_run(CURVE)
    sel = select_checkpoints(run)
    assert sel.spec == "key:6"
    assert len(sel.items) == 6
    reasons = {i.epoch: i.reasons for i in sel.items}
    assert reasons[0] == ("first epoch with a checkpoint",)
    assert reasons[15] == ("best eval_top1 = 74.1",)
    assert reasons[19] == ("last epoch with a checkpoint",)


def test_key_spreads_changes_over_early_middle_late() -> None:
    run = make_run(CURVE)
    sel = select_checkpoints(run, "key:6")
    # early: +30 at epoch 1; middle: +6 at epoch 7; late: +1.6 at epoch 14 (epochs >= 2/3 of the span)
    assert sel.epochs == (0, 1, 7, 14, 15, 19)
    change = {i.epoch: i.reasons[0] for i in sel.items if "change" in i.reasons[0]}
    assert change[1] == "largest eval_top1 change in early training: +30 since epoch 0"
    assert "middle" in change[7] and "late" in change[14]


def test_key_fills_from_all_phases_and_is_deterministic() -> None:
    run = make_run(CURVE)
    a = select_checkpoints(run, "key:10")
    b = select_checkpoints(run, " KEY:10 ")
    assert a == b
    assert len(a.items) == 10
    assert a.epochs == tuple(sorted(a.epochs))


def test_key_only_uses_existing_checkpoints() -> None:
    # timm kept only the best few: epochs 1 and 7 (big changes) have no checkpoint
    have = {0, 2, 3, 14, 15, 17, 18, 19}
    run = make_run(CURVE, with_ckpt=have)
    sel = select_checkpoints(run, "key:5")
    assert set(sel.epochs) <= have
    assert {0, 15, 19} <= set(sel.epochs)


def test_key_with_fewer_checkpoints_than_k_takes_them_all() -> None:
    run = make_run([1, 2, 3])
    assert select_checkpoints(run, "key:8").epochs == (0, 1, 2)


def test_key_lower_is_better() -> None:
    run = make_run([5.0, 3.0, 1.0, 2.0], higher=False)
    best = select_checkpoints(run, "best")
    assert best.epochs == (2,)
    assert best.items[0].reasons == ("best eval_top1 = 1",)


def test_all_last_best() -> None:
    run = make_run(CURVE, with_ckpt={3, 5, 15, 19})
    assert select_checkpoints(run, "all").epochs == (3, 5, 15, 19)
    assert select_checkpoints(run, "last").epochs == (19,)
    assert select_checkpoints(run, "best").epochs == (15,)


def test_best_ties_take_the_earliest() -> None:
    run = make_run([1, 5, 5, 4])
    assert select_checkpoints(run, "best").epochs == (1,)


def test_every_counts_completed_epochs_and_reports_missing() -> None:
    run = make_run(CURVE, with_ckpt={4, 9, 19})  # timm: epoch 4 = 5 completed epochs
    sel = select_checkpoints(run, "every:5")
    assert sel.epochs == (4, 9, 19)
    assert sel.missing == (14,)
    assert sel.items[0].reasons == ("every 5 epochs (completed epoch 5)",)


def test_every_openclip_numbering() -> None:
    run = make_run([1, 2, 3, 4, 5, 6], framework="open_clip")  # epochs 1..6
    assert select_checkpoints(run, "every:2").epochs == (2, 4, 6)


def test_uniform_includes_ends() -> None:
    run = make_run(CURVE)
    sel = select_checkpoints(run, "uniform:4")
    assert sel.epochs == (0, 6, 13, 19)


def test_log_is_dense_early() -> None:
    run = make_run(CURVE + [74.0] * 80)  # 100 epochs
    sel = select_checkpoints(run, "log:5")
    assert sel.epochs[0] == 0 and sel.epochs[-1] == 99
    gaps = [b - a for a, b in zip(sel.epochs, sel.epochs[1:], strict=False)]
    assert gaps == sorted(gaps)  # spacing grows


def test_epochs_list() -> None:
    run = make_run(CURVE)
    sel = select_checkpoints(run, "epochs:10,1,5")
    assert sel.spec == "epochs:1,5,10"
    assert sel.epochs == (1, 5, 10)


def test_epochs_without_checkpoint_is_an_input_error() -> None:
    run = make_run(CURVE, with_ckpt={1, 2})
    with pytest.raises(InputError, match=r"no checkpoint for epoch\(s\) 5") as info:
        select_checkpoints(run, "epochs:1,5")
    assert "Epochs with checkpoints: 1, 2" in str(info.value)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "newest",
        "key",
        "key:2",
        "key:x",
        "every:0",
        "uniform:",
        "epochs:",
        "epochs:a,b",
        "all:3",
        "log:-1",
    ],
)
def test_bad_spec_lists_valid_forms(spec: str) -> None:
    run = make_run(CURVE)
    with pytest.raises(InputError) as info:
        select_checkpoints(run, spec)
    message = str(info.value)
    assert f"invalid --select spec {spec!r}" in message
    for form in SELECT_FORMS:
        assert form in message


def test_selection_on_real_timm_run(timm_run_dir: Path) -> None:
    run = read_run(timm_run_dir)
    sel = select_checkpoints(run)
    assert {run.checkpoints[0].epoch, run.best_epoch(), run.checkpoints[-1].epoch} <= set(sel.epochs)
    assert all(item.reasons for item in sel.items)
    assert all(run.checkpoint(e) is not None for e in sel.epochs)
