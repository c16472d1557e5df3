"""Training dynamics on real runs made by the frameworks' own training code.

- timm: a fine-tune of the session's timm run (``--initial-checkpoint``) with the trunk frozen through
  timm's ``group_matcher`` (``--lock --lock-unlocked-groups 1``), with and without
  ``--lock-freeze-bn-stats`` (without it the frozen BatchNorm statistics move: the check fires);
- OpenCLIP: ``open_clip_train`` with ``--lock-image --lock-image-unlocked-groups 1`` and with
  ``--lock-text``; the unlocked run with a params.txt edited to claim a lock;
- measures against a naive float64 reference (``torch.load`` both, ``torch.linalg.norm`` per group).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from fixtures_hub import HUB_TOKEN
from fixtures_runs import copy_run

from hubkit.cli import cli
from hubkit.dynamics import DynamicsReport, analyse_repo, analyse_run
from hubkit.hub import LocalHub

TRUNK = ["conv1+bn1", "layer1", "layer2", "layer3", "layer4"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finetune_factory(timm_run_dir: Path, timm_run_factory: Callable[..., Path]) -> Callable[..., Path]:
    def build(freeze_bn_stats: bool) -> Path:
        return timm_run_factory(
            ema=False,
            epochs=3,
            initial_checkpoint=str(timm_run_dir / "last.pth.tar"),
            lock=1,
            freeze_bn_stats=freeze_bn_stats,
        )

    return build


def _kinds(report: DynamicsReport) -> dict[str, tuple[bool | None, bool | None, bool]]:
    """group -> (params frozen, buffers frozen, expected frozen)."""
    return {
        g.name: (
            g.params.frozen if g.params else None,
            g.buffers.frozen if g.buffers else None,
            bool(g.expected and g.expected.frozen),
        )
        for g in report.groups
    }


def test_timm_frozen_trunk_found_as_the_lock_implies(finetune_factory: Callable[..., Path]) -> None:
    report = analyse_run(finetune_factory(True))
    assert report.lock_settings == ("--lock", "--lock-unlocked-groups 1", "--lock-freeze-bn-stats")
    assert report.frozen_observed == report.frozen_expected == tuple(TRUNK)
    kinds = _kinds(report)
    assert kinds == {**{g: (True, True, True) for g in TRUNK}, "fc": (False, None, False)}
    assert report.passed and not report.findings


def test_timm_moving_batchnorm_statistics_in_a_frozen_trunk_fail_naming_the_groups(
    finetune_factory: Callable[..., Path],
) -> None:
    run = finetune_factory(False)
    report = analyse_run(run)
    assert _kinds(report) == {**{g: (True, False, True) for g in TRUNK}, "fc": (False, None, False)}
    failed = [f for f in report.findings if f.failed]
    assert [(f.group, f.kind) for f in failed] == [(g, "buffers_moved") for g in TRUNK]
    assert failed[1].message.startswith("group 'layer1' is frozen by --lock --lock-unlocked-groups 1")
    assert "freeze_bn_stats was off" in failed[1].message
    result = CliRunner().invoke(cli, ["dynamics", str(run)], catch_exceptions=True)
    assert result.exit_code != 0
    assert "MISMATCH: group 'layer1'" in result.output


def test_openclip_lock_image_with_one_unlocked_group(openclip_run_factory: Callable[..., Path]) -> None:
    report = analyse_run(openclip_run_factory(lock_image=True, lock_image_unlocked_groups=1))
    frozen = ("visual.embed", "visual.blocks.0", "visual.blocks.1+norm")
    assert report.frozen_observed == report.frozen_expected == frozen
    assert report.lock_settings == ("--lock-image", "--lock-image-unlocked-groups 1")
    assert all(g.buffers is None for g in report.groups)  # a ViT CLIP has no buffers in its state dict
    assert report.passed


def test_openclip_lock_text(openclip_run_factory: Callable[..., Path], tmp_path: Path) -> None:
    run = openclip_run_factory(lock_text=True)
    report = analyse_run(run)
    frozen = ("text.embed", "text.blocks.0", "text.blocks.1+norm", "text.proj")
    assert report.frozen_observed == report.frozen_expected == frozen
    assert report.passed
    result = CliRunner().invoke(cli, ["dynamics", str(run), "-o", str(tmp_path / "d.png")])
    assert result.exit_code == 0, result.output
    assert (
        "frozen groups: observed text.embed, text.blocks.0, text.blocks.1+norm, text.proj; expected"
        in result.output
    )
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"


def test_params_txt_edited_to_claim_a_lock_fails_naming_the_group(
    openclip_run_dir: Path, tmp_path: Path
) -> None:
    run = copy_run(openclip_run_dir, tmp_path / "run")
    params = run / "params.txt"
    text = params.read_text()
    assert "lock_image: False" in text
    params.write_text(text.replace("lock_image: False", "lock_image: True"))
    report = analyse_run(run)
    failed = [f for f in report.findings if f.failed]
    assert [f.group for f in failed] == [
        "visual.embed",
        "visual.blocks.0",
        "visual.blocks.1+norm",
        "visual.proj",
    ]
    assert failed[0].message.startswith("group 'visual.embed' is frozen by --lock-image")
    assert "but its parameters changed" in failed[0].message
    result = CliRunner().invoke(cli, ["dynamics", str(run), "--json"], catch_exceptions=True)
    assert result.exit_code != 0 and '"passed": false' in result.output


def _state(path: Path, key: str) -> dict[str, torch.Tensor]:
    with torch.serialization.safe_globals([argparse.Namespace]):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint[key]
    return {k.removeprefix("module."): v for k, v in state.items()}


def _flat(state: dict[str, torch.Tensor], keys: tuple[str, ...]) -> torch.Tensor:
    floats = [state[k].to(torch.float64).reshape(-1) for k in keys if state[k].is_floating_point()]
    return torch.cat(floats) if floats else torch.zeros(0, dtype=torch.float64)


def _check_against_reference(report: DynamicsReport, run: Path, key: str) -> int:
    files = [
        run / ref.source if (run / ref.source).is_file() else run / "checkpoints" / ref.source
        for ref in report.checkpoints
    ]
    states = [_state(f, key) for f in files]
    compared = 0
    for group in report.groups:
        for series in (group.params, group.buffers):
            if series is None:
                continue
            flats = [_flat(s, series.keys) for s in states]
            if flats[0].numel() == 0:
                continue
            norm = torch.linalg.norm
            for i, step in enumerate(series.steps):
                expected = {
                    "rel_change_first": float(norm(flats[i] - flats[0]) / norm(flats[0])),
                    "dist_final": float(norm(flats[i] - flats[-1])),
                    "rel_dist_final": float(norm(flats[i] - flats[-1]) / norm(flats[-1])),
                    "cos_final": float(flats[i] @ flats[-1] / (norm(flats[i]) * norm(flats[-1]))),
                    "norm": float(norm(flats[i])),
                }
                if i:
                    expected["rel_change_prev"] = float(norm(flats[i] - flats[i - 1]) / norm(flats[i - 1]))
                for name, value in expected.items():
                    got = getattr(step, name)
                    assert got == pytest.approx(value, rel=1e-6, abs=1e-12), (
                        group.name,
                        series.kind,
                        i,
                        name,
                    )
                    compared += 1
    return compared


def test_measures_agree_with_a_naive_reference_on_a_timm_resnet(timm_run_dir: Path) -> None:
    report = analyse_run(timm_run_dir)  # EMA weights, as published
    assert len(report.checkpoints) == 5 and report.architecture == "test_resnet"
    assert _check_against_reference(report, timm_run_dir, "state_dict_ema") > 6 * 2 * 5 * 5


def test_measures_agree_with_a_naive_reference_on_an_openclip_vit(openclip_run_dir: Path) -> None:
    report = analyse_run(openclip_run_dir)
    assert report.scheme == "open_clip lock() groups" and len(report.checkpoints) == 3
    assert _check_against_reference(report, openclip_run_dir, "state_dict") > 9 * 3 * 5


@pytest.fixture(scope="module")
def published_bn(finetune_factory: Callable[..., Path], session_hub: LocalHub) -> tuple[str, Path, str]:
    """The BatchNorm run published with the default --frozen-check warn; (repo, run, publish output)."""
    run = finetune_factory(False)
    repo = "localuser/dynamics-bn"
    args = ["publish", str(run), "--repo", repo, "--select", "all", "--no-verify", "--json"]
    result = CliRunner().invoke(cli, [*args, "--endpoint", session_hub.endpoint, "--token", HUB_TOKEN])
    assert result.exit_code == 0, result.output
    return repo, run, result.output


def test_publish_warns_on_a_frozen_mismatch_and_strict_stops_before_any_remote_change(
    published_bn: tuple[str, Path, str], session_hub: LocalHub
) -> None:
    import json

    _repo, run, output = published_bn
    warnings = json.loads(output.strip().splitlines()[-1])["warnings"]
    assert len(warnings) == 5 and warnings[1].startswith("frozen groups: group 'layer1' is frozen by --lock")
    args = ["publish", str(run), "--repo", "localuser/dynamics-strict", "--frozen-check", "strict"]
    result = CliRunner().invoke(cli, [*args, "--endpoint", session_hub.endpoint, "--token", HUB_TOKEN])
    assert result.exit_code != 0 and "frozen-group check failed: group 'conv1+bn1'" in str(result.exception)
    from huggingface_hub import HfApi

    assert not HfApi(endpoint=session_hub.endpoint, token=HUB_TOKEN).repo_exists("localuser/dynamics-strict")


def test_verify_with_the_run_fails_on_the_frozen_mismatch(
    published_bn: tuple[str, Path, str], session_hub: LocalHub
) -> None:
    from hubkit.verify import verify_revisions

    repo, run, _ = published_bn
    results = verify_revisions(
        repo, ["epoch-000", "epoch-001"], endpoint=session_hub.endpoint, token=HUB_TOKEN, run=run
    )
    assert results[0].passed, results[0].failures  # nothing moved yet at the first checkpoint
    frozen = [f for f in results[1].failures if f.startswith("frozen groups: ")]
    assert [f.split("'")[1] for f in frozen] == TRUNK and not results[1].passed
    assert any(n.startswith("frozen groups: observed conv1+bn1, layer1") for n in results[1].notes)


def test_a_published_repo_is_analysed_without_the_run(
    published_bn: tuple[str, Path, str], session_hub: LocalHub, tmp_path: Path
) -> None:
    repo, run, _ = published_bn
    common = ["--endpoint", session_hub.endpoint, "--token", HUB_TOKEN]
    published = analyse_repo(repo, endpoint=session_hub.endpoint, token=HUB_TOKEN, cache_dir=tmp_path)
    local = analyse_run(run)
    assert [c.label for c in published.checkpoints] == ["epoch-000", "epoch-001", "epoch-002"]
    assert [(f.group, f.kind) for f in published.findings] == [(f.group, f.kind) for f in local.findings]
    for mine, theirs in zip(published.groups, local.groups, strict=True):
        assert mine.name == theirs.name
        for a, b in ((mine.params, theirs.params), (mine.buffers, theirs.buffers)):
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                # the same numbers, summed in the safetensors file's key order
                assert [s.rel_change_prev for s in a.steps] == pytest.approx(
                    [s.rel_change_prev for s in b.steps]
                )
    args = ["dynamics", repo, "--revision", "epoch-000", "--revision", "epoch-002", *common]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "MISMATCH: group 'layer1'" in result.output


def test_main_card_shows_training_dynamics_with_its_picture(
    published_bn: tuple[str, Path, str], session_hub: LocalHub, tmp_path: Path
) -> None:
    from huggingface_hub import HfApi, ModelCard, hf_hub_download

    repo, _, _ = published_bn
    api = HfApi(endpoint=session_hub.endpoint, token=HUB_TOKEN)
    assert "training_dynamics.png" in api.list_repo_files(repo)
    path = hf_hub_download(
        repo, "README.md", endpoint=session_hub.endpoint, token=HUB_TOKEN, cache_dir=tmp_path
    )
    card = ModelCard.load(path)
    text = card.text
    section = text[text.index("## Training dynamics") :]
    assert "![Training dynamics](training_dynamics.png)" in section
    assert "expected from the run's lock settings (`--lock --lock-unlocked-groups 1`)" in section
    assert (
        "| `layer1` | frozen | frozen | **moved** |" in section
        and "| `fc` | trains | changed, up to" in section
    )
    assert "- Mismatch: group 'layer1' is frozen by --lock --lock-unlocked-groups 1 (args.yaml)" in section
    assert "bitwise unchanged from the previous revision: `epoch-001` " in section
    png = hf_hub_download(repo, "training_dynamics.png", endpoint=session_hub.endpoint, cache_dir=tmp_path)
    assert Path(png).read_bytes()[:4] == b"\x89PNG"


def test_each_revisions_hubkit_json_records_how_it_moved_since_the_previous(
    published_bn: tuple[str, Path, str], session_hub: LocalHub, tmp_path: Path
) -> None:
    from huggingface_hub import hf_hub_download

    from hubkit.layout import HubkitRecord

    repo, _, _ = published_bn

    def record(revision: str) -> HubkitRecord:
        path = hf_hub_download(
            repo, "hubkit.json", revision=revision, endpoint=session_hub.endpoint, cache_dir=tmp_path
        )
        return HubkitRecord.from_json(Path(path).read_bytes())

    assert record("epoch-000").dynamics is None
    second = record("epoch-001").dynamics
    assert second is not None and second.previous == "epoch-000"
    assert second.frozen_groups == tuple(TRUNK) and second.buffers_moved == tuple(TRUNK)
    assert second.rel_change["layer1"] == 0.0 and (second.rel_change["fc"] or 0.0) > 0.0
    assert second.unchanged_share is not None and 0.9 < second.unchanged_share < 1.0
    assert record("main").dynamics == record("epoch-002").dynamics  # main holds the last revision's files


def test_a_run_that_keeps_its_lock_publishes_without_warnings_and_no_dynamics_on_request(
    finetune_factory: Callable[..., Path], session_hub: LocalHub, tmp_path: Path
) -> None:
    import json

    from huggingface_hub import HfApi, hf_hub_download

    from hubkit.layout import HubkitRecord

    repo = "localuser/dynamics-ft"
    args = [
        "publish",
        str(finetune_factory(True)),
        "--repo",
        repo,
        "--select",
        "all",
        "--no-verify",
        "--json",
    ]
    args += ["--no-dynamics", "--endpoint", session_hub.endpoint, "--token", HUB_TOKEN]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "warnings" not in json.loads(result.output.strip().splitlines()[-1])  # the lock held
    assert "training_dynamics.png" not in HfApi(endpoint=session_hub.endpoint).list_repo_files(repo)
    path = hf_hub_download(
        repo, "hubkit.json", revision="epoch-001", endpoint=session_hub.endpoint, cache_dir=tmp_path
    )
    assert HubkitRecord.from_json(Path(path).read_bytes()).dynamics is None


def test_verify_fails_a_release_whose_params_txt_claims_a_lock_naming_the_group(
    openclip_run_dir: Path, session_hub: LocalHub, tmp_path: Path
) -> None:
    from hubkit.verify import verify_revisions

    repo = "localuser/dynamics-claim"
    args = ["publish", str(openclip_run_dir), "--repo", repo, "--select", "epochs:1,3", "--no-verify"]
    published = CliRunner().invoke(cli, [*args, "--endpoint", session_hub.endpoint, "--token", HUB_TOKEN])
    assert published.exit_code == 0, published.output
    run = copy_run(openclip_run_dir, tmp_path / "run")
    params = run / "params.txt"
    params.write_text(params.read_text().replace("lock_image: False", "lock_image: True"))
    (result,) = verify_revisions(repo, ["epoch-003"], endpoint=session_hub.endpoint, token=HUB_TOKEN, run=run)
    frozen = [f for f in result.failures if f.startswith("frozen groups: ")]
    assert frozen and frozen[0].startswith("frozen groups: group 'visual.embed' is frozen by --lock-image")
    assert not result.passed
