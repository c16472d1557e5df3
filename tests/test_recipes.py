"""``hubkit recipe``: the RSB paper's columns field by field, MobileNetV4's train/test resolutions and
results, train.py-valid keys, scaling by the source's rule, and the difference table against a run."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubkit.cli import main
from hubkit.errors import RecipeError
from hubkit.recipes import recipe_for, recipe_keys, result_tags, results_for
from hubkit.recipes.catalog import _recipes

DATA = Path(__file__).parent / "data"


def _names(file: str) -> frozenset[str]:
    lines = (DATA / file).read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


TIMM_TRAIN_ARGS = _names("timm_train_args.txt")
OPEN_CLIP_TRAIN_ARGS = _names("open_clip_train_args.txt")
Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``hubkit recipe ARGS`` through the real entry point (error table and exit codes included)."""

    def _run(*args: str) -> tuple[int, str]:
        code = 0
        try:
            main(["recipe", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out + out.err

    return _run


# ResNet strikes back (Wightman, Touvron, Jégou 2021, arXiv:2110.00476v1), Table 1, columns A1 / A2 / A3,
# transcribed here by hand (page not verified from this machine; see sources.yaml rsb-t1).
# ✓ = used, ✗ = not used.
RSB_TABLE_1: dict[str, dict[str, Any]] = {
    #                      A1        A2        A3
    "Train Res": {"A1": 224, "A2": 224, "A3": 160},
    "Test Res": {"A1": 224, "A2": 224, "A3": 224},
    "Epochs": {"A1": 600, "A2": 300, "A3": 100},
    "Batch size": {"A1": 2048, "A2": 2048, "A3": 2048},
    "Optimizer": {"A1": "LAMB", "A2": "LAMB", "A3": "LAMB"},
    "LR": {"A1": 5e-3, "A2": 5e-3, "A3": 8e-3},
    "decay rate": {"A1": "cosine", "A2": "cosine", "A3": "cosine"},
    "Weight decay": {"A1": 0.01, "A2": 0.02, "A3": 0.02},
    "Warmup epochs": {"A1": 5, "A2": 5, "A3": 5},
    "Label smoothing": {"A1": 0.1, "A2": "✗", "A3": "✗"},
    "Dropout": {"A1": "✗", "A2": "✗", "A3": "✗"},
    "Stoch. Depth": {"A1": 0.05, "A2": 0.05, "A3": "✗"},
    "Repeated Aug": {"A1": "✓", "A2": "✓", "A3": "✗"},
    "Gradient Clip.": {"A1": "✗", "A2": "✗", "A3": "✗"},
    "H. flip": {"A1": "✓", "A2": "✓", "A3": "✓"},
    "RRC": {"A1": "✓", "A2": "✓", "A3": "✓"},
    "Rand Augment": {"A1": "7/0.5", "A2": "7/0.5", "A3": "6/0.5"},
    "Mixup alpha": {"A1": 0.2, "A2": 0.1, "A3": 0.1},
    "Cutmix alpha": {"A1": 1.0, "A2": 1.0, "A3": 1.0},
    "Erasing prob.": {"A1": "✗", "A2": "✗", "A3": "✗"},
    "ColorJitter": {"A1": "✗", "A2": "✗", "A3": "✗"},
    "EMA": {"A1": "✗", "A2": "✗", "A3": "✗"},
    "Test crop ratio": {"A1": 0.95, "A2": 0.95, "A3": 0.95},
    "CE loss": {"A1": "✗", "A2": "✗", "A3": "✗"},
    "BCE loss": {"A1": "✓", "A2": "✓", "A3": "✓"},
    "Mixed precision": {"A1": "✓", "A2": "✓", "A3": "✓"},
    "Top-1": {"A1": 80.4, "A2": 79.8, "A3": 78.1},
}


def _off(value: Any) -> bool:
    return value in (None, False, 0, 0.0)


def _paper_field(field: str, paper: Any, config: dict[str, Any], tag: str) -> None:
    """Assert one Table 1 cell against what ``hubkit recipe`` printed (config) and its recipe object."""
    recipe = recipe_for(tag)
    simple = {
        "Train Res": "img_size",
        "Epochs": "epochs",
        "Batch size": "batch_size",
        "LR": "lr",
        "decay rate": "sched",
        "Weight decay": "weight_decay",
        "Warmup epochs": "warmup_epochs",
        "Mixup alpha": "mixup",
        "Cutmix alpha": "cutmix",
        "Test crop ratio": "crop_pct",
    }
    if field in simple:
        assert config[simple[field]] == paper
    elif field == "Test Res":
        assert recipe.facts["test_img_size"].value == paper
    elif field == "Top-1":
        assert recipe.facts["top1"].value == paper
    elif field == "Optimizer":
        assert config["opt"] == paper.lower()
    elif field == "Rand Augment":
        magnitude, std = paper.split("/")
        assert config["aa"] == f"rand-m{magnitude}-mstd{std}"
    elif field in ("Label smoothing", "Stoch. Depth"):
        key = {"Label smoothing": "smoothing", "Stoch. Depth": "drop_path"}[field]
        assert _off(config[key]) if paper == "✗" else config[key] == paper
    elif field == "Repeated Aug":
        if paper == "✓":  # used, count not in the table: stated, never invented
            assert "aug_repeats" not in config and "aug_repeats" in recipe.stated
        else:
            assert config["aug_repeats"] == 0
    elif field in ("H. flip", "RRC"):
        assert {"H. flip": "hflip", "RRC": "scale"}[field] in recipe.stated
    else:
        key = {
            "Dropout": "drop",
            "Gradient Clip.": "clip_grad",
            "Erasing prob.": "reprob",
            "ColorJitter": "color_jitter",
            "EMA": "model_ema",
            "CE loss": "bce_loss",
            "BCE loss": "bce_loss",
            "Mixed precision": "amp",
        }[field]
        used = paper == "✓" if field != "CE loss" else paper == "✗"  # CE ✗ means BCE
        assert (config[key] is True) if used else _off(config[key]), (field, config[key])


@pytest.mark.parametrize("column", ["A1", "A2", "A3"])
def test_rsb_columns_field_by_field(run: Run, column: str) -> None:
    tag = f"resnet50.{column.lower()}_in1k"
    code, output = run(tag)
    assert code == 0, output
    config = yaml.safe_load(output)
    for field, cells in RSB_TABLE_1.items():
        _paper_field(field, cells[column], config, tag)


def test_every_line_names_its_source(run: Run) -> None:
    _, output = run("resnet50.a1_in1k")
    keys = [line for line in output.splitlines() if line and not line.startswith("#")]
    assert all(re.search(r"  # \S", line) for line in keys), keys
    assert "#   rsb-t1: Wightman, Touvron, Jégou (2021)" in output


def test_mobilenetv4_hybrid_large_train_384_test_448(run: Run) -> None:
    code, output = run("mobilenetv4_hybrid_large.ix_e600_r384_in1k")
    assert code == 0, output
    config = yaml.safe_load(output)
    assert config["epochs"] == 600 and config["img_size"] == 384
    assert "#   test_img_size: 448  (timm-cfg: test_input_size (3, 448, 448))" in output
    assert "#   at 384 px (crop 0.95) [train resolution]: top-1 83.996, top-5 96.714" in output
    assert "#   at 448 px (crop 1) [test resolution]: top-1 84.352, top-5 96.888" in output
    assert "#   tested at 448 px instead of the train size 384 px: +0.356 top-1" in output
    unknown = output.split("# Unknown (no source gives a value; hubkit does not fill these in):")[1]
    for name in (
        "opt",
        "lr",
        "batch_size",
        "weight_decay",
        "warmup_epochs",
        "smoothing",
        "drop_path",
        "mixup",
    ):
        assert f"#   {name}: " in unknown
        assert name not in config  # never invented


def _sample_tags() -> dict[str, str]:
    """One tag per recipe: a tag the recipe lists, else a tag of the results table it matches."""
    samples: dict[str, str] = {}
    for key, entry in _recipes().items():
        match = entry["match"]
        if match.get("tags"):
            samples[key] = match["tags"][0]
        elif match.get("architectures"):
            samples[key] = f"{match['architectures'][0]}.{match['pretrained'][0]}"
        elif match.get("forms"):  # the OpenCLIP fallback: any pair
            samples[key] = "ViT-B-32/laion2b_s34b_b79k"
    for tag in sorted(result_tags()):
        tokens = set(tag.partition(".")[2].split("_"))
        for key, entry in _recipes().items():
            if key not in samples and tokens & set(entry["match"].get("recipes", ())):
                try:
                    if recipe_for(tag).key == key:
                        samples[key] = tag
                except RecipeError:  # the token means something else in this tag
                    continue
    return samples


def test_every_emitted_key_is_an_argument_of_the_trainer(run: Run) -> None:
    samples = _sample_tags()
    assert set(samples) == set(recipe_keys()), set(recipe_keys()) - set(samples)
    for key, tag in samples.items():
        recipe = recipe_for(tag)
        names = TIMM_TRAIN_ARGS if recipe.trainer == "timm" else OPEN_CLIP_TRAIN_ARGS
        for extra in ((), ("--batch-size", "64", "--gpus", "2")):
            code, output = run(tag, *extra)
            assert code in (0, 2), output  # 2: the batch cannot be kept (accumulation rule), said so
            if code == 0:
                emitted = set(yaml.safe_load(output))
                assert emitted <= names, (key, emitted - names)
        code, output = run(tag, "--format", "args")
        flags = {t[2:].replace("-", "_") for t in shlex.split(output) if t.startswith("--")}
        assert flags - {"data_dir", "train_data"} <= names, (key, flags - names)


def test_scaling_follows_the_source_rule(run: Run) -> None:
    _, output = run("resnet50.a1_in1k", "--batch-size", "256", "--gpus", "2")  # LAMB: sqrt (timm train.py)
    assert yaml.safe_load(output)["lr"] == 0.0025
    assert (
        "# scaled: lr 0.005 -> 0.0025 (sqrt rule, x0.5 for global batch 512 vs 2048; rule: timm-train)"
        in output
    )
    _, output = run("deit_base_patch16_224.fb_in1k", "--batch-size", "128", "--gpus", "4")  # DeiT: linear
    assert yaml.safe_load(output)["lr"] == 0.0005
    _, output = run(
        "convnext_tiny.fb_in1k", "--batch-size", "128", "--gpus", "8"
    )  # keep 4096 by accumulation
    config = yaml.safe_load(output)
    assert config["grad_accum_steps"] == 4 and config["lr"] == 0.004 and config["drop_path"] == 0.1
    code, output = run("convnext_tiny.fb_in1k", "--batch-size", "3000")
    assert code == 2 and "not a whole multiple" in output
    _, output = run("resnet50.a1_in1k")  # unscaled: says nothing about scaling
    assert "# scaled" not in output and yaml.safe_load(output)["batch_size"] == 2048


def test_args_format_is_one_command_line(run: Run) -> None:
    code, output = run("resnet50.a3_in1k", "--format", "args", "--gpus", "8")
    assert code == 0
    words = shlex.split(output)
    assert words[:6] == ["python", "train.py", "--data-dir", "/path/to/imagenet", "--model", "resnet50"]
    assert "--bce-loss" in words and "--amp" in words and "--model-ema" not in words
    assert words[words.index("--batch-size") + 1] == "256" and words[words.index("--img-size") + 1] == "160"


def test_results_table_keeps_both_resolutions() -> None:
    rows = results_for("resnet50.a3_in1k")
    assert [(r.img_size, r.top1, r.top5, r.crop_pct) for r in rows] == [
        (160, 75.994, 92.494, 0.95),
        (224, 78.052, 93.78, 0.95),
    ]
    assert results_for("not_a_model.x") == ()


def test_augreg_checkpoint_name_is_decoded(run: Run) -> None:
    recipe = recipe_for("vit_base_patch16_224.augreg_in21k_ft_in1k")
    facts = {k: v.value for k, v in recipe.facts.items()}
    assert facts["pretrain_dataset"] == "ImageNet-21k" and facts["pretrain_epochs"] == 300
    assert facts["pretrain_wd"] == 0.1 and facts["pretrain_augmentation"] == "medium1"
    assert facts["finetune_steps"] == 20_000 and facts["finetune_lr"] == 0.01
    assert recipe.args["img_size"].value == 224 and "opt" in recipe.unknown


def test_unknown_tag_and_missing_recipe_exit_2(run: Run) -> None:
    code, output = run("vgg16.tv_in1k")
    assert code == 2 and "no reference recipe is known for 'vgg16.tv_in1k'" in output
    code, output = run("resnet50.a1_in1k", "--gpus", "0")
    assert code == 2 and "--gpus must be a positive integer" in output


@pytest.mark.slow  # read_run imports torch
def test_diff_lists_where_a_run_departs_from_the_reference(run: Run, tmp_path: Path) -> None:
    args = {"model": "resnet50", "opt": "adamw", "lr": 0.005, "epochs": 600, "batch_size": 256}
    args |= {"weight_decay": 0.01, "smoothing": 0.1, "amp": True, "model_ema": False}
    (tmp_path / "args.yaml").write_text(yaml.safe_dump(args))
    (tmp_path / "summary.csv").write_text("epoch,train_loss,eval_loss,eval_top1,eval_top5\n0,1,1,10,20\n")
    (tmp_path / "checkpoint-0.pth.tar").write_bytes(b"")
    code, output = run("resnet50.a1_in1k", "--diff", str(tmp_path))
    assert code == 0, output
    rows = {line.split(" | ")[0].strip("| `"): line for line in output.splitlines() if line.startswith("| `")}
    assert rows["opt"] == "| `opt` | `adamw` | `lamb` | rsb-t1 |"
    assert rows["batch_size"] == "| `batch_size` | `256` | `2048` (global) | rsb-t1 |"
    assert rows["aa"] == "| `aa` | not recorded | `rand-m7-mstd0.5` | rsb-t1 |"
    for same in ("lr", "epochs", "weight_decay", "smoothing", "amp", "model_ema"):
        assert same not in rows
    assert "Not compared (the reference gives no value): `opt_eps`" in output


def test_json_has_sources_unknowns_and_both_resolutions(run: Run) -> None:
    import json

    code, output = run("mobilenetv4_hybrid_large.ix_e600_r384_in1k", "--json")
    assert code == 0
    data = json.loads(output)
    assert data["args"]["epochs"] == {"value": 600, "source": "tag", "note": "'e600'"}
    assert [(r["img_size"], r["top1"]) for r in data["results"]] == [(384, 83.996), (448, 84.352)]
    assert "lr" in data["unknown"] and data["scaled"]["notes"] == []
