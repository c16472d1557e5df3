"""Run-based cards: from synthetic run facts (main card with results / revisions / verification, a branch
card for an intermediate checkpoint), then from real timm and OpenCLIP runs, where facts recorded in the
run (image size, classes, hyperparameters, epochs) must win over registry defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from test_cards_lint import markdown_problems

from hubkit.cards import (
    CHECKPOINT_TEMPLATE,
    CardContext,
    CheckpointFacts,
    DatasetRow,
    EpochTable,
    Hyperparameter,
    Metric,
    MetricCheck,
    ResultRow,
    RevisionRow,
    RunFacts,
    Sourced,
    Usage,
    VerificationFacts,
    render_card,
    runfacts,
)
from hubkit.cards.build import with_run
from hubkit.cards.licenses import validate_license
from hubkit.errors import InputError
from hubkit.runs import SelectedCheckpoint, TrainingRun, read_run
from hubkit.secrets import register_token

REPO = "org/resnet-digits"


def _base() -> CardContext:
    """A context as the publish step would start from, written out by hand (no decoder involved)."""
    return CardContext(
        title="resnet-digits",
        tag="resnet18",
        architecture="resnet18",
        library="timm",
        pipeline_tag="image-classification",
        summary="A ResNet image classification model (`resnet18`) trained with timm on scikit-learn's digits.",
        model_type="Image classification / feature backbone",
        family="ResNet",
        usage=Usage("timm", f"hf-hub:{REPO}", repo_id=REPO, num_classes=10, features_only=True),
        repo_id=REPO,
        license="apache-2.0",
        hub_tags=("timm", "image-classification"),
        lineage=(
            DatasetRow("train", "scikit-learn digits", None, "1,797 images, 10 classes", "run", "args.yaml"),
        ),
        training=(
            Sourced("Optimizer", "AdamW", "run", "args.yaml"),
            Sourced("Epochs", "20", "run", "args.yaml"),
        ),
    )


def _run_parts() -> dict[str, object]:
    return {
        "run": RunFacts(
            name="20240101-120000-resnet18-32",
            framework="timm",
            hyperparameters=(
                Hyperparameter("Learning rate", "0.001", "args.yaml `lr`"),
                Hyperparameter("Optimizer", "adamw", "args.yaml `opt`"),
            ),
            arguments=(Hyperparameter("lr", "0.001"), Hyperparameter("opt", "adamw")),
            arguments_file="args.yaml",
            epochs=20,
            dataset="scikit-learn digits",
            train_command="python train.py --model resnet18 --lr 0.001",
        ),
        "results": (
            ResultRow(
                "image-classification",
                "digits (held-out)",
                "digits",
                "accuracy",
                "Top-1 accuracy",
                97.5,
                "validation",
                "run",
                "summary.csv epoch 19",
            ),
            ResultRow(
                "image-classification",
                "digits (held-out)",
                "digits",
                "accuracy",
                "Top-5 accuracy",
                100.0,
                "validation",
                "run",
                "summary.csv epoch 19",
            ),
        ),
        "epoch_table": EpochTable(
            ("epoch", "train_loss", "eval_top1"), (("0", "2.1", "40.2"), ("19", "0.05", "97.5"))
        ),
        "curve_image": "training_curves.png",
        "revisions": (
            RevisionRow(
                "main",
                "3f2a9c1",
                20,
                (Metric("top1", 97.5),),
                f'timm.create_model("hf-hub:{REPO}", pretrained=True)',
                "final",
            ),
            RevisionRow(
                "epoch-10",
                "9b1c2d3",
                10,
                (Metric("top1", 91.25),),
                f'timm.create_model("hf-hub:{REPO}@epoch-10", pretrained=True)',
                "intermediate",
            ),
        ),
        "verification": VerificationFacts(
            True,
            "main",
            "3f2a9c1",
            (MetricCheck("top1", measured=97.4, recorded=97.5, tolerance=0.5),),
            "digits, 360 held-out images",
            ("weights reloaded from safetensors",),
        ),
    }


@pytest.fixture(scope="module")
def main_text() -> str:
    return render_card(with_run(_base(), **_run_parts()))  # type: ignore[arg-type]


def test_main_card_renders_every_run_section(main_text: str) -> None:
    for heading in (
        "### Training run",
        "#### Hyperparameters",
        "## Results",
        "### Per-epoch results",
        "## Published revisions",
        "## Verification",
    ):
        assert heading in main_text, heading
    assert "![Training curves](training_curves.png)" in main_text
    assert "| Learning rate | 0.001 | recorded in the run: args.yaml `lr` |" in main_text
    assert "<summary>All recorded arguments (args.yaml)</summary>" in main_text
    assert "| `lr` | 0.001 |" in main_text
    assert "| `epoch-10` | `9b1c2d3` | 10 | top1 91.25 | intermediate |" in main_text
    assert "| top1 | 97.5 | 97.4 | 0.5 | yes |" in main_text
    assert "**passed**" in main_text


def test_model_index_parses_into_eval_results(main_text: str) -> None:
    card = ModelCard(main_text, ignore_metadata_errors=False)
    results = card.data.eval_results
    assert results is not None and len(results) == 2
    top1 = results[0]
    assert (top1.task_type, top1.dataset_type, top1.dataset_split) == (
        "image-classification",
        "digits",
        "validation",
    )
    assert (top1.metric_type, top1.metric_name, top1.metric_value) == ("accuracy", "Top-1 accuracy", 97.5)
    assert card.data.model_name == REPO
    assert card.data.license == "apache-2.0" and card.data.library_name == "timm"


def test_run_cards_pass_lint(main_text: str) -> None:
    assert markdown_problems(main_text) == []
    assert markdown_problems(_checkpoint_text(is_final=False)) == []


def _checkpoint_text(*, is_final: bool) -> str:
    parts = _run_parts()
    del parts["revisions"], parts["verification"]
    # a branch card reports the checkpoint's own metrics, not the final model's
    parts["results"] = (
        ResultRow(
            "image-classification",
            "digits (held-out)",
            "digits",
            "accuracy",
            "Top-1 accuracy",
            93.0,
            "validation",
            "run",
            "summary.csv epoch 12",
        ),
    )
    checkpoint = CheckpointFacts(
        13, 20, is_final, "ema", (Metric("top1", 93.0),), "checkpoint-12.pth.tar", framework_epoch=12
    )
    context = with_run(_base(), checkpoint=checkpoint, revision="epoch-13", **parts)  # type: ignore[arg-type]
    context = dataclasses.replace(
        context, usage=dataclasses.replace(context.usage, model_ref=f"hf-hub:{REPO}@epoch-13")
    )
    return render_card(context, template=CHECKPOINT_TEMPLATE)


def test_checkpoint_card_says_it_is_not_the_final_model() -> None:
    text = _checkpoint_text(is_final=False)
    assert (
        "**After 13 of 20 epochs (`checkpoint-12.pth.tar`, timm epoch 12): "
        "an intermediate checkpoint, not the final model.**"
    ) in text
    assert f"[`main`](https://huggingface.co/{REPO}/tree/main)" in text
    assert "EMA (exponential moving average) weights" in text
    assert "`checkpoint-12.pth.tar`" in text
    assert f'timm.create_model("hf-hub:{REPO}@epoch-13", pretrained=True)' in text
    assert "## Published revisions" not in text
    assert ModelCard(text).data.eval_results[0].metric_value == 93.0
    final = _checkpoint_text(is_final=True)
    assert "not the final model" not in final
    assert (
        "**After 13 of 20 epochs (`checkpoint-12.pth.tar`, timm epoch 12): the final checkpoint of the run.**"
        in final
    )


def test_tokens_never_reach_a_card() -> None:
    token = "hf_" + "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwX"
    register_token(token)
    run = RunFacts("r", "timm", train_command=f"python train.py --hub-token {token}")
    text = render_card(with_run(_base(), run=run))
    assert token not in text


# --- cards of real runs: facts recorded in the run win over registry defaults ---------------------------


@pytest.fixture(scope="module")
def timm_cards(timm_run_dir: Path) -> dict[str, str]:
    """Main card (final epoch) and the branch card of timm's epoch 1 for the shared 5-epoch timm run."""
    return _run_cards(read_run(timm_run_dir), branch_epoch=1, weights="ema", license=None)


@pytest.fixture(scope="module")
def openclip_cards(openclip_run_factory: Callable[..., Path]) -> dict[str, str]:
    """Cards of an OpenCLIP run trained with the text tower locked (shared with test_runs_read)."""
    return _run_cards(read_run(openclip_run_factory(lock_text=True, epochs=2)), 1, "raw", "apache-2.0")


def _run_cards(run: TrainingRun, branch_epoch: int, weights: str, license: str | None) -> dict[str, str]:
    from hubkit.publish import card as cards

    base = cards.base_context(run, f"org/{run.name}", license=license)
    by_epoch = {c.epoch: c for c in run.checkpoints}

    def values(epoch: int) -> dict[str, float]:
        metrics = by_epoch[epoch].metrics
        return dict(metrics.values) if metrics else {}

    last = run.checkpoints[-1]
    branch = cards.checkpoint_card(
        base,
        run,
        SelectedCheckpoint(by_epoch[branch_epoch], ("first epoch",)),
        revision=f"epoch-{branch_epoch:03d}",
        weights=weights,
        metrics=values(branch_epoch),
        verification=None,
        main_revision="main",
        template_dir=None,
    ).decode()
    rows = [
        (f"epoch-{c.epoch:03d}", "0123456789abcdef", c.epoch, values(c.epoch), "") for c in run.checkpoints
    ]
    main = cards.main_card(
        base,
        run,
        SelectedCheckpoint(last, ("last",)),
        metrics=values(last.epoch),
        rows=rows,
        curve_image=None,
        verification=None,
        template_dir=None,
        weights=weights,
    ).decode()
    return {"main": main, "branch": branch, "run_dir": str(run.path)}


def test_run_card_image_size_and_stats_are_the_runs(timm_run_dir: Path, timm_cards: dict[str, str]) -> None:
    import timm

    run = read_run(timm_run_dir)
    assert run.hyperparams.raw["img_size"] == 32 and run.num_classes == 10
    text = timm_cards["main"]
    assert "- Train: 32 x 32 (recorded in the run, args.yaml `img_size`)" in text
    assert "- Evaluation: 32 x 32 (recorded in the run, args.yaml `img_size`)" in text
    assert "160 x 160" not in text and "timm:test_resnet" not in text  # the registry's reference weights
    assert "computed by hubkit at 32 x 32 with the run's 10-class head" in text
    # parameters of test_resnet with a 10-class head, counted independently of hubkit
    model = timm.create_model("test_resnet", pretrained=False, num_classes=10)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    stats = runfacts.stats(run)
    assert stats is not None and stats.image_size == (32, 32)
    assert stats.params_m == pytest.approx(params)
    default_head = timm.create_model("test_resnet", pretrained=False)
    assert stats.params_m != pytest.approx(sum(p.numel() for p in default_head.parameters()) / 1e6)
    assert f"- Params (M): {params:.2f}" in text


def test_run_card_links_no_reference_weights(
    timm_cards: dict[str, str], openclip_cards: dict[str, str]
) -> None:
    for text in (timm_cards["main"], timm_cards["branch"], openclip_cards["main"]):
        assert "Reference weights" not in text and "huggingface.co/timm/" not in text
        assert "laion" not in text.lower()
    assert (
        "[timm (PyTorch Image Models), which defines `test_resnet`](https://github.com/huggingface/pytorch-image-models)"
        in timm_cards["main"]
    )
    assert "(https://github.com/mlfoundations/open_clip)" in openclip_cards["main"]


def test_run_card_license_only_when_the_publisher_gives_one(
    timm_cards: dict[str, str], openclip_cards: dict[str, str]
) -> None:
    for text in (timm_cards["main"], timm_cards["branch"]):
        card = ModelCard(text)
        assert card.data.license is None and "\nlicense:" not in text.split("\n---\n")[0]
        assert "No license was given when these weights were published" in card.text
    for text in (openclip_cards["main"], openclip_cards["branch"]):
        assert ModelCard(text).data.license == "apache-2.0"
        assert "The publisher released these weights under the `apache-2.0` license." in text
    assert markdown_problems(timm_cards["main"]) == [] and markdown_problems(openclip_cards["branch"]) == []


def test_license_ids_are_the_hubs() -> None:
    assert validate_license("cc-by-nc-4.0") == "cc-by-nc-4.0" and validate_license(None) is None
    with pytest.raises(InputError, match=r"did you mean 'apache-2\.0'") as caught:
        validate_license("Apache-2.0")
    assert "apache-2.0, mit" in (caught.value.hint or "")
    with pytest.raises(InputError, match="not a license identifier"):
        validate_license("my license")


def test_run_card_hyperparameters_are_normalised_and_raw_args_collapsed(timm_cards: dict[str, str]) -> None:
    text = timm_cards["main"]
    table = text[text.index("#### Hyperparameters") : text.index("<details>")]
    assert "| Optimizer | adamw | recorded in the run: args.yaml `opt` |" in table
    assert "| Label smoothing | 0.1 | recorded in the run: args.yaml `smoothing` |" in table
    assert "| Mixup alpha | 0 (off) | recorded in the run: args.yaml `mixup` |" in table
    assert "| EMA of weights | yes | recorded in the run: args.yaml `model_ema` |" in table
    assert "| EMA decay |" in table and "| Precision | fp32 |" in table
    assert "Momentum" not in table  # timm records --momentum, but AdamW does not use it
    assert "`log_interval`" not in table and len(table.splitlines()) < 30
    details = text[text.index("<details>") : text.index("</details>")]
    assert "<summary>All recorded arguments (args.yaml)</summary>" in details
    assert "| `log_interval` | 50 |" in details and "| `data_dir` | data |" in details


def test_local_paths_never_reach_a_run_card(
    timm_cards: dict[str, str], openclip_cards: dict[str, str]
) -> None:
    for cards in (timm_cards, openclip_cards):
        run_dir = cards["run_dir"]
        for text in (cards["main"], cards["branch"]):
            assert run_dir not in text and str(Path(run_dir).parent) not in text
    assert runfacts.local_value("/srv/runs/a/data/val", Path("/srv/runs/a")) == "data/val"
    assert runfacts.local_value("/datasets/imagenet/train/", Path("/srv/runs/a")) == "train (local path)"
    assert runfacts.local_value(["/srv/runs/a/x.csv", 3], Path("/srv/runs/a")) == ["x.csv", 3]
    assert runfacts.local_value("relative/data", Path("/srv/runs/a")) == "relative/data"


def test_run_card_summary_is_composed_from_the_run(timm_cards: dict[str, str], timm_run_dir: Path) -> None:
    run = read_run(timm_run_dir)
    top1 = run.epochs[-1].values["eval_top1"]
    assert (
        "\n`test_resnet` trained with timm for 5 epochs on an image folder of 10 classes (`data`); "
        f"this revision holds the EMA weights after 5 epochs (validation top-1 {top1:.2f} %).\n"
    ) in timm_cards["main"]
    assert "this revision holds the EMA weights after 2 of 5 epochs" in timm_cards["branch"]
    assert "timm test model image classification model" not in timm_cards["main"]


def test_run_card_usage_counts_the_runs_classes(timm_cards: dict[str, str]) -> None:
    for text in (timm_cards["main"], timm_cards["branch"]):
        assert "logits = model(transform(image).unsqueeze(0))  # (1, 10)" in text and "(1, 1000)" not in text


def test_run_cards_say_epochs_completed_and_the_timm_epoch(timm_cards: dict[str, str]) -> None:
    assert (
        "> **After 2 of 5 epochs (`checkpoint-1.pth.tar`, timm epoch 1): "
        "an intermediate checkpoint, not the final model.**"
    ) in timm_cards["branch"]
    main = timm_cards["main"]
    assert "| Revision | Commit | Epochs completed | Metrics | Note |" in main
    assert "| `epoch-000` | `0123456` | 1 (timm epoch 0) |" in main
    assert "| `epoch-004` | `0123456` | 5 (timm epoch 4) |" in main


def test_model_index_dataset_is_named_never_a_path(
    timm_cards: dict[str, str], openclip_cards: dict[str, str]
) -> None:
    result = ModelCard(timm_cards["main"]).data.eval_results[0]
    assert (result.dataset_name, result.dataset_type) == ("data (image folder)", "imagefolder")
    clip = ModelCard(openclip_cards["main"]).data.eval_results[0]
    assert (clip.dataset_name, clip.dataset_type) == ("val.csv (CSV image-text pairs)", "csv")
    assert "- **Dataset:** train.csv (CSV image-text pairs)" in openclip_cards["main"]


def test_openclip_run_card_uses_the_runs_config_and_locked_tower(openclip_cards: dict[str, str]) -> None:
    text = openclip_cards["main"]
    assert (
        "- Train and evaluation: 32 x 32 (recorded in the run, digits-tiny-vit.json `vision_cfg.image_size`)"
        in text
    )
    assert "computed by hubkit at 32 x 32" in text and "- Image tower params (M): " in text
    assert (
        "| Locked (frozen) towers | text | recorded in the run: params.txt `lock_image`, `lock_text` |"
        in text
    )
    assert "| Warmup steps |" in text and "| `lock_text` | true |" in text
    assert (
        "`digits-tiny-vit` trained with OpenCLIP for 2 epochs on image-text pairs from a CSV file "
        "(`data/train.csv`), with the text tower locked; this revision holds the raw training weights "
        "after 2 epochs (validation loss "
    ) in text
    assert "> **After 1 of 2 epochs (`epoch_1.pt`): an intermediate checkpoint" in openclip_cards["branch"]
    assert "| `epoch-001` | `0123456` | 1 |" in text  # OpenCLIP counts completed epochs itself
