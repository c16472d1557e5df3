"""hubkit verify on a real (tiny) timm run published to the local hub over HTTP.

The run is the shared ``timm_run_dir`` (examples/timm_digits: digits, EMA on, every epoch kept), so
summary.csv's eval_top1 is the EMA model's. Revisions are published by hand: converted with
hubkit.runs, hubkit.json written with hubkit.publish.metadata, uploaded with huggingface_hub.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi

from hubkit.hub import LocalHub
from hubkit.publish.metadata import RevisionFacts, hubkit_json, split_metrics
from hubkit.runs import TrainingRun, convert_checkpoint, read_run
from hubkit.verify.verifier import VerifyOptions, verify_revision

EPOCHS = 5
CPU = VerifyOptions(device="cpu", workers=0)


@pytest.fixture(scope="session")
def digits_run(timm_run_dir: Path) -> Path:
    """The shared timm digits run (5 epochs, EMA on, 50 validation images); never modified here."""
    return timm_run_dir


def publish_by_hand(
    api: HfApi,
    repo_id: str,
    run: TrainingRun,
    epoch: int,
    branch: str,
    tmp: Path,
    *,
    weights: str | None = None,
    facts_override: dict[str, Any] | None = None,
    config_override: dict[str, Any] | None = None,
) -> str:
    """Convert ``epoch``, add hubkit.json, upload to ``branch``; return the commit id."""
    info = run.checkpoint(epoch)
    assert info is not None
    out = tmp / f"export-{repo_id.replace('/', '-')}-{branch}"
    done = convert_checkpoint(run, info, out, weights=weights)  # type: ignore[arg-type]
    if config_override:
        config = json.loads((out / "config.json").read_text())
        config.update(config_override)
        (out / "config.json").write_text(json.dumps(config))
    results, lr, step = split_metrics(info.metrics.values if info.metrics else {})
    fields: dict[str, Any] = dict(
        revision=branch,
        run_name=run.name,
        framework=run.framework,
        architecture=run.architecture,
        epoch=epoch,
        epochs=EPOCHS,
        epoch_base=0,
        metrics=results,
        lr=lr,
        step=step,
        weights=done.weights,
        source_file=info.path.name,
        source_sha256=done.source_sha256,
        source_size=info.size,
        files={f.path.name: (f.size, f.sha256) for f in done.files if f.path.name in ("model.safetensors",)},
        hyperparameters={},
        primary_metric=run.primary_metric,
    )
    fields.update(facts_override or {})
    (out / "hubkit.json").write_bytes(hubkit_json(RevisionFacts(**fields)))
    api.create_repo(repo_id, exist_ok=True)
    api.create_branch(repo_id, branch=branch, exist_ok=True)
    return api.upload_folder(repo_id=repo_id, folder_path=str(out), revision=branch).oid


@pytest.fixture(scope="session")
def published(
    digits_run: Path, session_hub: LocalHub, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, TrainingRun]:
    """Every epoch of the run published as epoch-00N on one repo of the session hub."""
    api = HfApi(endpoint=session_hub.endpoint, token=session_hub.token)
    run = read_run(digits_run)
    repo_id = "localuser/verify-timm-digits"
    tmp = tmp_path_factory.mktemp("verify-exports")
    for info in run.checkpoints:
        publish_by_hand(api, repo_id, run, info.epoch, f"epoch-{info.epoch:03d}", tmp)
    publish_by_hand(api, repo_id, run, EPOCHS - 1, "main", tmp)
    return repo_id, run


@pytest.mark.parametrize("epoch", range(EPOCHS))
def test_every_epoch_reproduces_summary_csv_eval_top1(
    published: tuple[str, TrainingRun], session_hub: LocalHub, epoch: int
) -> None:
    repo_id, run = published
    result = verify_revision(
        repo_id,
        f"epoch-{epoch:03d}",
        endpoint=session_hub.endpoint,
        token=session_hub.token,
        run=run,
        options=CPU,
    )
    assert result.passed, result.failures
    recorded = run.metrics(epoch).values["eval_top1"]  # type: ignore[union-attr]
    top1 = next(c for c in result.checks if c.name == "top1")
    assert top1.recorded == pytest.approx(recorded)
    assert abs(result.metrics["top1"] - recorded) <= 0.5
    assert result.num_samples == 50
    assert result.weights == "ema" and result.epoch == epoch
    assert result.integrity is not None and result.integrity.passed
    assert result.integrity.tensors_compared > 10 and result.integrity.logits_max_abs_diff == 0.0
    assert result.device is not None and result.device.type == "cpu"
    assert set(result.versions) >= {"torch", "timm", "open_clip", "hubkit"}
    assert {"download_s", "load_s", "eval_s", "integrity_s"} <= set(result.timings)


def test_without_the_run_hubkit_json_supplies_the_recorded_metric(
    published: tuple[str, TrainingRun], session_hub: LocalHub
) -> None:
    repo_id, run = published
    options = VerifyOptions(device="cpu", workers=0, eval_data=run.val_data)
    result = verify_revision(repo_id, "epoch-001", endpoint=session_hub.endpoint, options=options)
    assert result.passed, result.failures
    assert result.integrity is None
    top1 = next(c for c in result.checks if c.name == "top1")
    assert top1.source.startswith("hubkit.json eval_top1")
    assert top1.recorded == pytest.approx(run.metrics(1).values["eval_top1"])  # type: ignore[union-attr]


def _flip_last_bytes(blob: bytes) -> bytes:
    """Same size, still a valid safetensors file: change the last 4 bytes (inside the last tensor)."""
    return blob[:-4] + bytes(b ^ 0x5A for b in blob[-4:])


def test_tampered_blob_on_the_server_fails(digits_run: Path, hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    run = read_run(digits_run)
    repo_id = "localuser/tampered"
    publish_by_hand(api, repo_id, run, 2, "epoch-002", tmp_path)
    original = (tmp_path / "export-localuser-tampered-epoch-002" / "model.safetensors").read_bytes()
    hub.tamper(repo_id, "epoch-002", "model.safetensors", _flip_last_bytes(original))
    for given_run in (None, run):
        options = VerifyOptions(device="cpu", workers=0, eval_data=run.val_data)
        result = verify_revision(
            repo_id, "epoch-002", endpoint=hub.endpoint, token=hub.token, run=given_run, options=options
        )
        assert not result.passed
        text = "\n".join(result.failures)
        assert "localuser/tampered@epoch-002" in text
        assert "model.safetensors" in text
    assert result.integrity is not None and result.integrity.mismatches  # bitwise check names the tensor


def test_raw_weights_where_the_metric_is_the_ema_models_fail(
    digits_run: Path, hub: LocalHub, tmp_path: Path
) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    run = read_run(digits_run)
    repo_id = "localuser/wrong-weights"
    publish_by_hand(api, repo_id, run, 2, "raw-honest", tmp_path, weights="raw")
    # raw tensors, but hubkit.json claims EMA: only the bitwise comparison can tell
    publish_by_hand(
        api, repo_id, run, 2, "raw-claims-ema", tmp_path, weights="raw", facts_override={"weights": "ema"}
    )
    honest = verify_revision(repo_id, "raw-honest", endpoint=hub.endpoint, run=run, options=CPU)
    assert not honest.passed
    assert any("EMA" in f and "raw-honest" in f for f in honest.failures)
    claims = verify_revision(repo_id, "raw-claims-ema", endpoint=hub.endpoint, run=run, options=CPU)
    assert not claims.passed
    assert claims.integrity is not None and claims.integrity.mismatches
    assert any("differs from the source checkpoint" in f for f in claims.failures)


def test_metric_outside_tolerance_fails(digits_run: Path, hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    run = read_run(digits_run)
    repo_id = "localuser/off-metric"
    true_top1 = run.metrics(1).values["eval_top1"]  # type: ignore[union-attr]
    wrong = {"metrics": {"eval_top1": true_top1 + 3.0, "eval_top5": run.metrics(1).values["eval_top5"]}}  # type: ignore[union-attr]
    publish_by_hand(api, repo_id, run, 1, "epoch-001", tmp_path, facts_override=wrong)
    options = VerifyOptions(device="cpu", workers=0, eval_data=run.val_data)
    result = verify_revision(repo_id, "epoch-001", endpoint=hub.endpoint, options=options)
    assert not result.passed
    assert any("top1" in f and "> tolerance 0.5" in f and "epoch-001" in f for f in result.failures)
    loose = verify_revision(
        repo_id,
        "epoch-001",
        endpoint=hub.endpoint,
        options=VerifyOptions(**{**options.__dict__, "tolerance": 3.5}),
    )
    assert loose.passed, loose.failures


def test_loader_error_fails_and_names_the_revision(digits_run: Path, hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    run = read_run(digits_run)
    repo_id = "localuser/broken-config"
    publish_by_hand(
        api, repo_id, run, 0, "epoch-000", tmp_path, config_override={"architecture": "no_such_net"}
    )
    result = verify_revision(repo_id, "epoch-000", endpoint=hub.endpoint, run=run, options=CPU)
    assert not result.passed and result.library is None
    assert "localuser/broken-config@epoch-000" in result.failures[0]
    assert "could not load" in result.failures[0]


def test_unknown_revision_is_a_failure_not_a_crash(
    published: tuple[str, TrainingRun], session_hub: LocalHub
) -> None:
    repo_id, _ = published
    result = verify_revision(repo_id, "epoch-999", endpoint=session_hub.endpoint, options=CPU)
    assert not result.passed and result.commit is None
    assert "epoch-999" in result.failures[0]


def test_limit_reports_without_checking(published: tuple[str, TrainingRun], session_hub: LocalHub) -> None:
    repo_id, run = published
    options = VerifyOptions(device="cpu", workers=0, limit=16, eval_data=run.val_data)
    result = verify_revision(repo_id, "epoch-000", endpoint=session_hub.endpoint, options=options)
    assert result.num_samples == 16
    assert all(not c.checked for c in result.checks)
    assert any("--limit 16" in n for n in result.notes)


# --- the CLI ------------------------------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    from hubkit.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_verifies_all_revisions_and_hides_the_token(
    published: tuple[str, TrainingRun], session_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    repo_id, run = published
    argv = ["verify", repo_id, "--all", "--endpoint", session_hub.endpoint, "--token", str(session_hub.token)]
    code = _cli([*argv, "--run", str(run.path), "--device", "cpu", "--workers", "0", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    results = json.loads(out.out)
    assert [r["revision"] for r in results] == ["main"] + [f"epoch-{e:03d}" for e in range(EPOCHS)]
    assert all(r["passed"] for r in results)
    assert results[0]["metrics"]["top1"] == results[-1]["metrics"]["top1"]
    assert str(session_hub.token) not in out.out + out.err


def test_cli_failure_exits_7_after_reporting_every_revision(
    digits_run: Path, hub: LocalHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    run = read_run(digits_run)
    repo_id = "localuser/cli-mixed"
    publish_by_hand(api, repo_id, run, 0, "epoch-000", tmp_path)
    publish_by_hand(api, repo_id, run, 2, "epoch-002", tmp_path, weights="raw")
    argv = ["verify", repo_id, "--revision", "epoch-002", "--revision", "epoch-000"]
    code = _cli(
        [*argv, "--endpoint", hub.endpoint, "--run", str(digits_run), "--device", "cpu", "--workers", "0"]
    )
    out = capsys.readouterr()
    assert code == 7
    assert "PASS localuser/cli-mixed@epoch-000" in out.out
    assert "FAIL localuser/cli-mixed@epoch-002" in out.out
    assert "1 of 2 revision(s) failed verification: epoch-002" in out.err
    files = {f for f in api.list_repo_files(repo_id, revision="epoch-002")}
    assert "verification.json" not in files


def test_cli_record_commits_verification_json_on_passing_branches(
    digits_run: Path, hub: LocalHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    run = read_run(digits_run)
    repo_id = "localuser/cli-record"
    verified_commit = publish_by_hand(api, repo_id, run, 1, "epoch-001", tmp_path)
    argv = [
        "verify",
        repo_id,
        "--revision",
        "epoch-001",
        "--endpoint",
        hub.endpoint,
        "--token",
        str(hub.token),
    ]
    code = _cli([*argv, "--run", str(digits_run), "--device", "cpu", "--workers", "0", "--record"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "recorded: verification.json committed" in out.out
    path = api.hf_hub_download(
        repo_id, "verification.json", revision="epoch-001", cache_dir=str(tmp_path / "c")
    )
    record = json.loads(Path(path).read_text())
    assert record["passed"] is True and record["commit"] == verified_commit
    assert set(record["timings"]) >= {"download_s", "load_s", "eval_s"}
    assert str(hub.token) not in Path(path).read_text()


def test_cli_rejects_record_with_limit(capsys: pytest.CaptureFixture[str]) -> None:
    code = _cli(["verify", "org/name", "--record", "--limit", "5", "--endpoint", "http://127.0.0.1:9"])
    assert code == 2
    assert "--record cannot be combined with --limit" in capsys.readouterr().err
