"""hubkit publish on a real (tiny) timm run, against the local hub over HTTP with the unmodified client.

One module-scoped publish (two epochs + main, verification on) serves the read-only checks; the tests that
change the repo use their own repo ids.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import hubkit
from click.testing import CliRunner
from huggingface_hub import HfApi, ModelCard

from hubkit.cli import cli
from hubkit.hub import LocalHub

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hubkit-test-token-123"
REPO = "localuser/timm-digits"


@pytest.fixture(scope="module")
def timm_run(timm_run_dir: Path) -> Path:
    """The shared 5-epoch timm digits run (EMA on): checkpoint-0..4, last, model_best."""
    return timm_run_dir


@pytest.fixture(scope="module")
def module_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(tmp_path_factory.mktemp("publish-hub"), token=TOKEN) as server:
        yield server


def publish(hub: LocalHub, run: Path, *args: str) -> tuple[int, str, dict[str, Any] | None]:
    """Run ``hubkit publish --json``; return exit code, stderr + stdout, the parsed report."""
    code, out, err = hubkit(
        "--debug", "publish", str(run), "--endpoint", hub.endpoint, "--token", TOKEN, "--json", *args
    )
    return code, err + out, json.loads(out) if code == 0 else None


@pytest.fixture(scope="module")
def published(module_hub: LocalHub, timm_run: Path) -> dict[str, Any]:
    code, output, report = publish(
        module_hub, timm_run, "--repo", REPO, "--select", "epochs:0,1", "--device", "cpu"
    )
    assert code == 0, output
    assert report is not None
    return report


def _api(hub: LocalHub) -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=TOKEN)


def _load_in_subprocess(hub: LocalHub, code: str, tmp: Path) -> None:
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp / "hf")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_each_selected_epoch_gets_a_verified_branch_and_main_the_last(
    published: dict[str, Any], timm_run: Path
) -> None:
    assert [(r["revision"], r["status"], r["verified"]) for r in published["revisions"]] == [
        ("epoch-000", "published", True),
        ("epoch-001", "published", True),
        ("epoch-004", "published", True),  # main's checkpoint always gets its own branch
    ]
    assert published["main"]["epoch"] == 4 and len(published["main"]["commit"]) == 40
    assert published["revisions"][2]["reasons"] == ["held by main (--main last)"]
    assert published["uploaded_bytes"] > 0 and published["commits"] == 3 * 2 + 1


def test_branches_load_with_timm_into_the_checkpoint_ema_weights(
    published: dict[str, Any], module_hub: LocalHub, timm_run: Path, tmp_path: Path
) -> None:
    code = f"""
import timm, torch
from hubkit.runs import load_checkpoint
for rev, ckpt in [("@epoch-000", "checkpoint-0.pth.tar"), ("@epoch-001", "checkpoint-1.pth.tar"), ("", "last.pth.tar")]:
    model = timm.create_model("hf-hub:{REPO}" + rev, pretrained=True)
    ema = load_checkpoint({str(timm_run)!r} + "/" + ckpt)["state_dict_ema"]
    state = model.state_dict()
    assert set(state) == set(ema), rev
    assert all(torch.equal(state[k], ema[k]) for k in ema), rev
"""
    _load_in_subprocess(module_hub, code, tmp_path)


def test_cards_parse_and_main_shows_curves_and_revisions(
    published: dict[str, Any], module_hub: LocalHub
) -> None:
    api = _api(module_hub)
    main_files = set(api.list_repo_files(REPO))
    assert {"README.md", "model.safetensors", "config.json", "hubkit.json", "verification.json"} <= main_files
    assert "training_curves.png" in main_files
    main_card = ModelCard(_read(api, "README.md", "main"))
    assert main_card.data.library_name == "timm"
    assert "training_curves.png" in main_card.text
    for rev in published["revisions"]:
        assert f"`{rev['revision']}`" in main_card.text and rev["commit"][:7] in main_card.text
    branch = ModelCard(_read(api, "README.md", "epoch-000"))
    assert "intermediate checkpoint" in branch.text and "epoch-000" in branch.text
    # timm's checkpoint-0 is the first completed epoch: the card counts epochs completed and names
    # timm's own number, which the branch name uses.
    assert (
        "**After 1 of 5 epochs (`checkpoint-0.pth.tar`, timm epoch 0): "
        "an intermediate checkpoint, not the final model.**"
    ) in branch.text
    assert "| `epoch-000` | `" in main_card.text and "| 1 (timm epoch 0) |" in main_card.text
    # main holds the EMA weights of the last epoch (timm's 4, the 5th): its summary says so
    assert "this revision holds the EMA weights after 5 epochs (validation top-1 " in main_card.text
    assert "| 5 (timm epoch 4) |" in main_card.text
    # no --license: no license claimed (not the registry's apache-2.0 of timm's reference weights)
    assert main_card.data.license is None and branch.data.license is None
    assert "No license was given" in main_card.text


def test_license_option_reaches_both_cards_and_a_bad_id_fails_first(
    module_hub: LocalHub, timm_run: Path
) -> None:
    code, output, _ = publish(module_hub, timm_run, "--repo", "localuser/lic", "--license", "Apache 2")
    assert code != 0 and "'Apache 2' is not a license identifier the Hub accepts" in output
    assert "apache-2.0" in output  # the hint names ids that work
    assert not _api(module_hub).repo_exists("localuser/lic")
    code, output, _ = publish(
        module_hub, timm_run, "--repo", "localuser/lic", "--select", "last", "--no-verify", "--license", "mit"
    )
    assert code == 0, output
    api = _api(module_hub)
    for revision in ("main", "epoch-004"):
        card = ModelCard(
            Path(api.hf_hub_download("localuser/lic", "README.md", revision=revision)).read_text()
        )
        assert card.data.license == "mit"
        assert "The publisher released these weights under the `mit` license." in card.text


def _read(api: HfApi, path: str, revision: str) -> str:
    return Path(api.hf_hub_download(REPO, path, revision=revision)).read_text()


def test_hubkit_json_records_the_checkpoint(
    published: dict[str, Any], module_hub: LocalHub, timm_run: Path
) -> None:
    from hubkit.runs import sha256_file

    record = json.loads(_read(_api(module_hub), "hubkit.json", "epoch-001"))
    assert record["epoch"] == 1 and record["weights"] == "ema" and record["run"]["framework"] == "timm"
    assert record["source_checkpoint"]["sha256"] == sha256_file(timm_run / "checkpoint-1.pth.tar")
    assert record["hyperparameters"]["model"] == "test_resnet" and "eval_top1" in record["metrics"]
    # No machine-local path is uploaded: the run's data dir is recorded relative to the run.
    assert record["hyperparameters"]["data_dir"] == "data"
    assert str(timm_run.resolve()) not in json.dumps(record) and str(timm_run) not in json.dumps(record)
    verification = json.loads(_read(_api(module_hub), "verification.json", "epoch-001"))
    assert verification["passed"] is True and verification["revision"] == "epoch-001"
    assert "timings" not in verification


def test_no_staging_branch_is_left(published: dict[str, Any], module_hub: LocalHub) -> None:
    branches = {b.name for b in _api(module_hub).list_repo_refs(REPO).branches}
    assert branches == {"main", "epoch-000", "epoch-001", "epoch-004"}


def test_second_run_uploads_nothing_and_commits_nothing(
    published: dict[str, Any], module_hub: LocalHub, timm_run: Path
) -> None:
    code, output, again = publish(
        module_hub, timm_run, "--repo", REPO, "--select", "epochs:0,1", "--device", "cpu"
    )
    assert code == 0, output
    assert again is not None
    assert again["commits"] == 0 and again["uploaded_bytes"] == 0
    assert {r["status"] for r in again["revisions"]} == {"unchanged"}
    assert [r["commit"] for r in again["revisions"]] == [r["commit"] for r in published["revisions"]]
    assert again["main"] == published["main"]


def test_dry_run_writes_nothing(module_hub: LocalHub, timm_run: Path, tmp_path: Path) -> None:
    cache = Path(os.environ["XDG_CACHE_HOME"])
    before = sorted(cache.rglob("*")) if cache.exists() else []
    argv = [
        "publish",
        str(timm_run),
        "--endpoint",
        module_hub.endpoint,
        "--token",
        TOKEN,
        "--repo",
        "localuser/dry",
    ]
    result = CliRunner().invoke(cli, [*argv, "--dry-run", "--select", "last"])
    assert result.exit_code == 0, result.output
    assert (
        "does not exist yet" in result.output
        and "epoch-004" in result.output
        and "model.safetensors" in result.output
    )
    assert not _api(module_hub).repo_exists("localuser/dry")
    assert (sorted(cache.rglob("*")) if cache.exists() else []) == before
    as_json = CliRunner().invoke(cli, [*argv, "--dry-run", "--json", "--select", "last"])
    report = json.loads(as_json.stdout)
    assert (
        report["dry_run"] is True and report["commits"] == 0 and report["revisions"][0]["status"] == "planned"
    )
    assert report["revisions"][0]["files"][0]["path"] == "model.safetensors"


def test_conflicting_weights_stop_without_force_and_are_replaced_with_it(
    module_hub: LocalHub, timm_run: Path
) -> None:
    repo = "localuser/conflict"
    opts = ["--repo", repo, "--select", "last", "--no-verify", "--main", "none"]
    assert publish(module_hub, timm_run, *opts)[0] == 0
    before = {b.name: b.target_commit for b in _api(module_hub).list_repo_refs(repo).branches}
    code, output, _ = publish(module_hub, timm_run, *opts, "--weights", "raw")
    assert code == 6 and "holds other weights" in output and "--force" in output
    assert {b.name: b.target_commit for b in _api(module_hub).list_repo_refs(repo).branches} == before
    code, output, report = publish(module_hub, timm_run, *opts, "--weights", "raw", "--force")
    assert code == 0, output
    assert report is not None and report["revisions"][0]["status"] == "replaced"
    assert report["revisions"][0]["commit"] != before["epoch-004"]


def test_invalid_names_fail_before_any_remote_change(module_hub: LocalHub, timm_run: Path) -> None:
    code, output, _ = publish(module_hub, timm_run, "--repo", "bad--name/x", "--no-verify")
    assert code == 2 and "invalid repo id" in output
    code, output, _ = publish(
        module_hub, timm_run, "--repo", "localuser/badbranch", "--branch-format", "e {epoch}"
    )
    assert code == 2 and "invalid branch name" in output
    assert not _api(module_hub).repo_exists("localuser/badbranch")


def test_token_never_appears_in_output(module_hub: LocalHub, timm_run: Path) -> None:
    ok = publish(module_hub, timm_run, "--repo", "localuser/secret", "--select", "last", "--no-verify")[1]
    code, out, err = hubkit(
        "--debug",
        "publish",
        str(timm_run),
        "--endpoint",
        module_hub.endpoint,
        "--token",
        "hf_wrongtoken12345678",
        "--repo",
        "localuser/secret2",
        "--no-verify",
    )
    assert code == 6
    for text in (ok, out + err):
        assert TOKEN not in text and "hf_wrongtoken12345678" not in text


def test_tag_marks_main_and_best_main_gets_its_own_branch(module_hub: LocalHub, timm_run: Path) -> None:
    repo = "localuser/tagged"
    opts = ["--repo", repo, "--select", "last", "--main", "best", "--tag", "v1", "--no-verify"]
    code, output, report = publish(module_hub, timm_run, *opts)
    assert code == 0, output
    assert report is not None and report["tag"] == "v1"
    from hubkit.runs import read_run

    best = read_run(timm_run).best_epoch()
    assert report["main"]["epoch"] == best and best in [r["epoch"] for r in report["revisions"]]
    refs = _api(module_hub).list_repo_refs(repo)
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": report["main"]["commit"]}
    code, output, again = publish(module_hub, timm_run, *opts)
    assert code == 0 and again is not None and again["commits"] == 0


def test_weights_upload_ahead_of_their_commit_once_each(timm_run: Path, tmp_path: Path) -> None:
    # The weights of the next revisions go up in the background while the current one is committed; the
    # commit then finds its object stored. Every object must still travel exactly once, and only after
    # the repo exists (nothing is written before the local checks passed). A hub of its own: objects
    # other tests stored would not be sent again at all.
    seen: list[tuple[str, str]] = []
    with LocalHub(tmp_path / "hub", token=TOKEN) as hub:
        hub.observe(lambda method, path: seen.append((method, path.split("?")[0])))
        code, output, report = publish(
            hub, timm_run, "--repo", "localuser/ahead", "--select", "epochs:0,1,2,3", "--no-verify"
        )
        hub.observe(None)
        assert code == 0 and report is not None, output
        api = _api(hub)
        weights = {
            json.loads(Path(api.hf_hub_download("localuser/ahead", "hubkit.json", revision=r)).read_text())[
                "files"
            ]["model.safetensors"]["sha256"]
            for r in ("epoch-000", "epoch-001", "epoch-002", "epoch-003")
        }
    # hubkit uploads through Xet: no xorb travels twice, and each revision's weights are in the CAS.
    xorbs = [path.rsplit("/", 1)[1] for method, path in seen if method == "POST" and "/v1/xorbs/" in path]
    assert xorbs and len(xorbs) == len(set(xorbs))
    assert all((hub.data_dir / "xet" / "sha256" / s[:2] / s).is_file() for s in weights)
    created = seen.index(("POST", "/api/repos/create"))
    assert all(i > created for i, (_, path) in enumerate(seen) if path.startswith(("/_lfs/", "/_xet/")))
