"""hubkit verify on a real (tiny) open_clip_train run published to the local hub over HTTP.

Retrieval recalls and clip_val_loss re-measured on the run's own val CSV must agree with results.jsonl
(open_clip_train's own ``get_clip_metrics`` computes both sides). Zero-shot on the image folder has no
recorded counterpart: it is reported, not checked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from hubkit.hub import LocalHub
from hubkit.runs import TrainingRun, convert_checkpoint, read_run
from hubkit.verify.verifier import VerifyOptions, verify_revision

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from digits_data import CLASS_NAMES

CPU = VerifyOptions(device="cpu", workers=0)
REPO = "localuser/verify-openclip-digits"


def _publish(api: HfApi, repo_id: str, run: TrainingRun, epoch: int, branch: str, tmp: Path) -> Path:
    """Convert one epoch and upload it (no hubkit.json: epoch and weights come from safetensors metadata)."""
    info = run.checkpoint(epoch)
    assert info is not None
    out = tmp / f"export-{repo_id.replace('/', '-')}-{branch}"
    convert_checkpoint(run, info, out)
    api.create_repo(repo_id, exist_ok=True)
    api.create_branch(repo_id, branch=branch, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(out), revision=branch)
    return out


@pytest.fixture(scope="session")
def published_clip(
    openclip_run_dir: Path, session_hub: LocalHub, tmp_path_factory: pytest.TempPathFactory
) -> TrainingRun:
    api = HfApi(endpoint=session_hub.endpoint, token=session_hub.token)
    run = read_run(openclip_run_dir)
    tmp = tmp_path_factory.mktemp("verify-clip-exports")
    for info in run.checkpoints:
        _publish(api, REPO, run, info.epoch, f"epoch-{info.epoch}", tmp)
    return run


def _results_jsonl(run: TrainingRun) -> dict[int, dict[str, float]]:
    assert run.metrics_file is not None
    rows = [json.loads(line) for line in run.metrics_file.read_text().splitlines() if line.strip()]
    return {int(row["epoch"]): row for row in rows}


def test_retrieval_reproduces_results_jsonl_for_every_epoch(
    published_clip: TrainingRun, session_hub: LocalHub
) -> None:
    run = published_clip
    recorded = _results_jsonl(run)
    assert sorted(recorded) == [c.epoch for c in run.checkpoints]
    for epoch, row in recorded.items():
        result = verify_revision(REPO, f"epoch-{epoch}", endpoint=session_hub.endpoint, run=run, options=CPU)
        assert result.passed, result.failures
        assert result.library == "open_clip" and result.epoch == epoch
        for name in ("image_to_text_R@1", "image_to_text_R@5", "text_to_image_R@1", "text_to_image_R@5"):
            assert abs(result.metrics[name] - 100 * row[name]) <= 0.5, name
        assert {c.name for c in result.checks if c.checked} >= {"image_to_text_R@1", "text_to_image_R@1"}
        # same batch size as the run, so even the per-batch loss matches
        assert result.metrics["clip_val_loss"] == pytest.approx(row["clip_val_loss"], rel=1e-4)
        assert result.num_samples == row["num_samples"]
        assert result.integrity is not None and result.integrity.passed
        assert (
            result.integrity.logits_max_abs_diff is not None and result.integrity.logits_max_abs_diff <= 1e-4
        )


def test_zero_shot_on_the_image_folder_is_reported_not_checked(
    published_clip: TrainingRun, session_hub: LocalHub
) -> None:
    run = published_clip
    folder = Path(str(run.val_data)).parent / "val"
    assert folder.is_dir()
    options = VerifyOptions(
        device="cpu",
        workers=0,
        eval_data=folder,
        class_names=CLASS_NAMES,
        zero_shot_templates=("a photo of the digit {}",),
    )
    last = run.checkpoints[-1].epoch
    result = verify_revision(REPO, f"epoch-{last}", endpoint=session_hub.endpoint, run=run, options=options)
    assert result.passed, result.failures  # integrity checked; nothing recorded to compare zero-shot with
    assert 0.0 <= result.metrics["zeroshot_top1"] <= result.metrics["zeroshot_top5"] <= 100.0
    assert not any(c.checked for c in result.checks)
    assert any("reported, not checked" in n for n in result.notes)


def test_zero_shot_without_run_has_nothing_to_verify_against(
    published_clip: TrainingRun, session_hub: LocalHub
) -> None:
    folder = Path(str(published_clip.val_data)).parent / "val"
    options = VerifyOptions(device="cpu", workers=0, eval_data=folder)
    result = verify_revision(REPO, "epoch-1", endpoint=session_hub.endpoint, options=options)
    assert not result.passed
    assert "nothing to verify against" in result.failures[0]


def test_tampered_openclip_blob_fails(openclip_run_dir: Path, hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    run = read_run(openclip_run_dir)
    out = _publish(api, "localuser/clip-tampered", run, 1, "epoch-1", tmp_path)
    blob = (out / "open_clip_model.safetensors").read_bytes()
    hub.tamper(
        "localuser/clip-tampered", "epoch-1", "open_clip_model.safetensors", blob[:-4] + b"\x00\x01\x02\x03"
    )
    result = verify_revision(
        "localuser/clip-tampered", "epoch-1", endpoint=hub.endpoint, run=run, options=CPU
    )
    assert not result.passed
    assert any("open_clip_model.safetensors" in f and "epoch-1" in f for f in result.failures)
