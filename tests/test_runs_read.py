"""Reading real timm and OpenCLIP run dirs, and refusing damaged or unknown ones with clear errors."""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from fixtures_runs import copy_run

from hubkit.errors import RunDirError, RunFileError
from hubkit.runs import read_run


# --- timm -------------------------------------------------------------------------------------------
def test_timm_run(timm_run_dir: Path) -> None:
    run = read_run(timm_run_dir)
    assert run.framework == "timm"
    assert run.architecture == "test_resnet"
    assert run.num_classes == 10
    assert run.name == "run"
    assert run.primary_metric == "eval_top1" and run.higher_is_better
    assert [m.epoch for m in run.epochs] == [0, 1, 2, 3, 4]
    with open(timm_run_dir / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert run.metrics(2).get("eval_top1") == float(rows[2]["eval_top1"])  # type: ignore[union-attr]
    assert {"train_loss", "eval_loss", "eval_top1", "eval_top5", "lr"} <= set(run.epochs[0].values)
    assert [c.epoch for c in run.checkpoints] == [0, 1, 2, 3, 4]
    last = run.checkpoints[-1]
    assert "last.pth.tar" in last.aliases and last.path.name == "checkpoint-4.pth.tar"
    best = run.checkpoint(run.best_epoch())  # type: ignore[arg-type]
    assert best is not None and "model_best.pth.tar" in best.aliases
    assert all(c.metrics is not None and c.size == c.path.stat().st_size for c in run.checkpoints)
    assert run.val_data == str(timm_run_dir / "data" / "val")
    assert run.eval_transform is not None and run.eval_transform.input_size == (3, 32, 32)


def test_timm_hyperparams(timm_run_dir: Path) -> None:
    h = read_run(timm_run_dir).hyperparams
    args = yaml.safe_load((timm_run_dir / "args.yaml").read_text())
    assert h.optimizer == args["opt"] == "adamw"
    assert h.lr == args["lr"] and h.schedule == "cosine" and h.epochs == 5 and h.batch_size == 32
    assert h.weight_decay == 0.05 and h.label_smoothing == 0.1 and h.mixup == 0.0
    assert h.ema is True and h.ema_decay == 0.99 and h.precision == "fp32"
    assert h.raw == args


def test_timm_missing_epochs_and_no_ema(timm_run_factory: Callable[..., Path]) -> None:
    run_dir = timm_run_factory(ema=False, checkpoint_hist=2)
    run = read_run(run_dir)
    assert run.hyperparams.ema is False
    assert len(run.epochs) == 5
    assert len(run.checkpoints) in (2, 3)  # the best two, plus last when it did not make the top two
    assert run.checkpoints[-1].epoch == 4  # last.pth.tar always holds the final epoch
    assert run.checkpoint(run.best_epoch()) is not None  # type: ignore[arg-type]


def test_copied_run_reads_epochs_from_files(timm_run_dir: Path, tmp_path: Path) -> None:
    """After a plain copy last/model_best are no longer hard links: their epoch is read from the file."""
    run = read_run(copy_run(timm_run_dir, tmp_path / "copy"))
    assert [c.epoch for c in run.checkpoints] == [0, 1, 2, 3, 4]
    assert "last.pth.tar" in run.checkpoints[-1].aliases


def test_alias_only_checkpoint(timm_run_dir: Path, tmp_path: Path) -> None:
    run_dir = copy_run(timm_run_dir, tmp_path / "copy")
    (run_dir / "checkpoint-4.pth.tar").unlink()
    run = read_run(run_dir)
    assert run.checkpoints[-1].epoch == 4
    assert run.checkpoints[-1].path.name == "last.pth.tar"
    assert run.checkpoints[-1].epoch_source == "file"


# --- OpenCLIP -----------------------------------------------------------------------------------------
def test_openclip_run(openclip_run_dir: Path) -> None:
    run = read_run(openclip_run_dir)
    assert run.framework == "open_clip"
    assert run.architecture == "digits-tiny-vit"
    assert run.num_classes is None
    assert run.primary_metric == "clip_val_loss" and not run.higher_is_better
    assert [m.epoch for m in run.epochs] == [1, 2, 3]
    assert [c.epoch for c in run.checkpoints] == [1, 2, 3]
    assert run.checkpoints[-1].aliases == ("epoch_latest.pt",)
    assert "text_to_image_R@1" in run.epochs[0].values
    assert run.model_config_path == openclip_run_dir / "digits-tiny-vit.json"
    assert run.model_config is not None and run.model_config["embed_dim"] == 32
    assert run.val_data is not None and run.val_data.endswith("val.csv")
    assert run.eval_transform is not None and run.eval_transform.input_size == (3, 32, 32)
    h = run.hyperparams
    assert h.optimizer == "adamw" and h.lr == 2e-3 and h.warmup_steps == 10 and h.epochs == 3
    assert h.weight_decay == 0.1 and h.precision == "fp32" and h.locked_towers == ()


def test_openclip_locked_text(openclip_run_factory: Callable[..., Path]) -> None:
    run = read_run(openclip_run_factory(lock_text=True, epochs=2))
    assert run.hyperparams.locked_towers == ("text",)
    assert run.hyperparams.raw["lock_text"] is True


def test_openclip_model_config_elsewhere(openclip_run_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(openclip_run_dir, run_dir, ignore=shutil.ignore_patterns("data", "*.json"))
    with pytest.raises(RunFileError, match="--model-config"):
        read_run(run_dir)
    run = read_run(run_dir, model_config=openclip_run_dir / "digits-tiny-vit.json")
    assert run.model_config is not None and run.model_config["vision_cfg"]["width"] == 64


def test_openclip_bad_params_line(openclip_run_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(openclip_run_dir, run_dir, ignore=shutil.ignore_patterns("data"))
    with open(run_dir / "params.txt", "a") as handle:
        handle.write("this line has no separator\n")
    with pytest.raises(RunFileError, match=r"params\.txt: line \d+ is not 'name: value'"):
        read_run(run_dir)


def test_openclip_without_results(openclip_run_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(openclip_run_dir, run_dir, ignore=shutil.ignore_patterns("data", "results.jsonl"))
    with pytest.raises(RunDirError, match=r"no checkpoints/results\.jsonl") as info:
        read_run(run_dir)
    assert "--val-data" in str(info.value)


# --- errors -------------------------------------------------------------------------------------------
def test_missing_and_empty_dirs(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="does not exist"):
        read_run(tmp_path / "nope")
    with pytest.raises(RunDirError, match="is empty") as info:
        read_run(tmp_path)
    assert "args.yaml" in str(info.value) and "params.txt" in str(info.value)


def test_parent_dir_hint(timm_run_dir: Path) -> None:
    with pytest.raises(RunDirError, match="not a timm, OpenCLIP or MMPreTrain run dir") as info:
        read_run(timm_run_dir.parent)
    assert str(timm_run_dir) in str(info.value)


@pytest.fixture
def timm_copy(timm_run_dir: Path, tmp_path: Path) -> Path:
    return copy_run(timm_run_dir, tmp_path / "run")


def test_malformed_args_yaml(timm_copy: Path) -> None:
    (timm_copy / "args.yaml").write_text("model: [unclosed\nlr: 0.1\n")
    with pytest.raises(RunFileError, match=r"args\.yaml is not valid YAML at line"):
        read_run(timm_copy)
    (timm_copy / "args.yaml").write_text("- just\n- a list\n")
    with pytest.raises(RunFileError, match=r"not a timm train\.py argument file"):
        read_run(timm_copy)


def test_huge_args_yaml(timm_copy: Path) -> None:
    with open(timm_copy / "args.yaml", "a") as handle:
        handle.write("# padding\n" * 200_000)
    with pytest.raises(RunFileError, match=r"more than the 1,048,576 bytes"):
        read_run(timm_copy)


def test_nan_metric(timm_copy: Path) -> None:
    lines = (timm_copy / "summary.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index("eval_loss")] = "nan"
    lines[3] = ",".join(row)
    (timm_copy / "summary.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RunFileError, match=r"line 4 \(epoch 2\), eval_loss is nan \(not finite\)") as info:
        read_run(timm_copy)
    assert "diverged" in str(info.value)


def test_checkpoints_without_metrics(timm_copy: Path) -> None:
    (timm_copy / "summary.csv").unlink()
    with pytest.raises(RunDirError, match=r"no summary\.csv"):
        read_run(timm_copy)
    (timm_copy / "summary.csv").write_text("epoch,train_loss,eval_loss,eval_top1\n")
    with pytest.raises(RunFileError, match="has a header but no epochs"):
        read_run(timm_copy)


def test_metrics_without_checkpoints(timm_copy: Path) -> None:
    for ckpt in timm_copy.glob("*.pth.tar"):
        ckpt.unlink()
    with pytest.raises(RunDirError, match=r"no \*\.pth\.tar checkpoints"):
        read_run(timm_copy)


def test_symlink_outside_run_dir_is_refused(timm_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.pth.tar"
    shutil.copy(timm_copy / "checkpoint-0.pth.tar", outside)
    (timm_copy / "checkpoint-0.pth.tar").unlink()
    os.symlink(outside, timm_copy / "checkpoint-0.pth.tar")
    with pytest.raises(RunDirError, match="outside the run dir"):
        read_run(timm_copy)


def test_symlink_inside_run_dir_is_fine(timm_copy: Path) -> None:
    (timm_copy / "keep").mkdir()
    os.replace(timm_copy / "checkpoint-0.pth.tar", timm_copy / "keep" / "c0.pth.tar")
    os.symlink(timm_copy / "keep" / "c0.pth.tar", timm_copy / "checkpoint-0.pth.tar")
    assert read_run(timm_copy).checkpoint(0) is not None


def test_json_round_trip_of_model_config(openclip_run_dir: Path) -> None:
    run = read_run(openclip_run_dir)
    on_disk = json.loads((openclip_run_dir / "digits-tiny-vit.json").read_text())
    assert run.model_config == on_disk
