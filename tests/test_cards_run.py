"""Run-based cards from synthetic run facts: main card with results / revisions / verification, and a
branch card for an intermediate checkpoint. The publish step fills the same fields from real runs."""

from __future__ import annotations

import dataclasses

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
)
from hubkit.cards.build import with_run
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
                Hyperparameter("lr", "0.001"),
                Hyperparameter("opt", "adamw"),
                Hyperparameter("epochs", "20"),
            ),
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
            (MetricCheck("top1", 97.5, 97.4, 0.5, True),),
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
        "#### Hyperparameters (recorded in the run)",
        "## Results",
        "### Per-epoch results",
        "## Published revisions",
        "## Verification",
    ):
        assert heading in main_text, heading
    assert "![Training curves](training_curves.png)" in main_text
    assert "| `lr` | 0.001 | args.yaml |" in main_text
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
    checkpoint = CheckpointFacts(13, 20, is_final, "ema", (Metric("top1", 93.0),), "checkpoint-12.pth.tar")
    context = with_run(_base(), checkpoint=checkpoint, revision="epoch-13", **parts)  # type: ignore[arg-type]
    context = dataclasses.replace(
        context, usage=dataclasses.replace(context.usage, model_ref=f"hf-hub:{REPO}@epoch-13")
    )
    return render_card(context, template=CHECKPOINT_TEMPLATE)


def test_checkpoint_card_says_it_is_not_the_final_model() -> None:
    text = _checkpoint_text(is_final=False)
    assert "**Epoch 13 of 20: an intermediate checkpoint, not the final model.**" in text
    assert f"[`main`](https://huggingface.co/{REPO}/tree/main)" in text
    assert "EMA (exponential moving average) weights" in text
    assert "`checkpoint-12.pth.tar`" in text
    assert f'timm.create_model("hf-hub:{REPO}@epoch-13", pretrained=True)' in text
    assert "## Published revisions" not in text
    assert ModelCard(text).data.eval_results[0].metric_value == 93.0
    final = _checkpoint_text(is_final=True)
    assert "not the final model" not in final and "the final model of the run" in final


def test_tokens_never_reach_a_card() -> None:
    token = "hf_" + "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwX"
    register_token(token)
    run = RunFacts("r", "timm", train_command=f"python train.py --hub-token {token}")
    text = render_card(with_run(_base(), run=run))
    assert token not in text
