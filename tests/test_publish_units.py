"""hubkit.publish building blocks, one rule per test: names, endpoint/token, hubkit.json, curves, report."""

from __future__ import annotations

import json

import pytest

from hubkit.errors import InputError, RepoIdError
from hubkit.hashing import git_blob_sha1
from hubkit.publish.curves import CurveData, render_curves
from hubkit.publish.endpoint import display_endpoint, resolve_explicit
from hubkit.publish.files import LocalFile, RemoteFile, changed_files, same_content
from hubkit.publish.metadata import RevisionFacts, hubkit_json, split_metrics
from hubkit.publish.naming import (
    BranchFields,
    branch_name,
    branch_names,
    default_repo_id,
    load_line,
    staging_branch,
    validate_branch,
    validate_repo_id,
)
from hubkit.publish.report import FileReport, MainReport, PublishReport, RevisionReport

FIELDS = BranchFields(epoch=4, epochs=10, step=None, run="digits")


def test_default_branch_format_pads_epochs() -> None:
    assert branch_name("epoch-{epoch:03d}", FIELDS) == "epoch-004"


@pytest.mark.parametrize(
    "fmt", ["epoch {epoch}", "a..{epoch}", "x~{epoch}", "{epoch}.lock", "/e{epoch}", "e{epoch}."]
)
def test_branch_format_with_an_invalid_git_ref_is_rejected(fmt: str) -> None:
    with pytest.raises(RepoIdError, match="invalid branch name"):
        branch_name(fmt, FIELDS)


def test_branch_format_with_unknown_field_names_the_fields() -> None:
    with pytest.raises(RepoIdError, match=r"unknown field\(s\) epok"):
        branch_name("e-{epok}", FIELDS)


def test_branch_format_without_epoch_collides() -> None:
    with pytest.raises(RepoIdError, match="same branch"):
        branch_names("release", [FIELDS, BranchFields(5, 10, None, "digits")])


def test_step_field_needs_recorded_steps() -> None:
    with pytest.raises(RepoIdError, match="does not record steps"):
        branch_name("s{step}", FIELDS)


@pytest.mark.parametrize("name", ["main", "hubkit-staging-epoch-001", "a" * 40, "refs/heads/x"])
def test_reserved_branch_names_are_rejected(name: str) -> None:
    with pytest.raises(RepoIdError):
        validate_branch(name)


@pytest.mark.parametrize("repo", ["a--b/c", "org/na..me", "org/x/y", "org/name.git", "-org/name"])
def test_invalid_repo_ids_are_rejected(repo: str) -> None:
    with pytest.raises(RepoIdError, match="invalid repo id"):
        validate_repo_id(repo)


def test_default_repo_id_is_valid_for_odd_run_names() -> None:
    assert default_repo_id("20260101-120000-resnet18 (copy)..") == "local/20260101-120000-resnet18-copy"
    assert staging_branch("epoch-001") == "hubkit-staging-epoch-001"


def test_load_lines_pin_the_revision() -> None:
    assert (
        load_line("timm", "o/n", "epoch-004") == 'timm.create_model("hf-hub:o/n@epoch-004", pretrained=True)'
    )
    assert load_line("timm", "o/n", "main") == 'timm.create_model("hf-hub:o/n", pretrained=True)'
    assert 'revision="epoch-004"' in load_line("open_clip", "o/n", "epoch-004")


def test_display_endpoint_strips_credentials_and_query() -> None:
    assert display_endpoint("https://user:hf_secret123456@hub.example.org:8443/hf/?token=abc") == (
        "https://hub.example.org:8443/hf"
    )


def test_endpoint_and_token_follow_hf_conventions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    monkeypatch.setenv("HF_TOKEN", "env-token-xyz")
    assert resolve_explicit(None, None) == ("http://127.0.0.1:9", "env-token-xyz")
    assert resolve_explicit("http://127.0.0.1:10", "cli-token") == ("http://127.0.0.1:10", "cli-token")


def test_no_endpoint_and_no_token_means_the_embedded_hub() -> None:
    assert resolve_explicit(None, None) == (None, None)  # conftest isolates HF_TOKEN and the stored login


def test_endpoint_must_be_http() -> None:
    with pytest.raises(InputError, match="invalid endpoint"):
        resolve_explicit("ftp://example.org", None)


def _facts(**changes: object) -> RevisionFacts:
    base = dict(
        revision="epoch-004",
        run_name="r",
        framework="timm",
        architecture="test_resnet",
        epoch=4,
        epochs=10,
        epoch_base=0,
        metrics={"eval_top1": 90.0},
        lr=0.1,
        step=None,
        weights="ema",
        source_file="checkpoint-4.pth.tar",
        source_sha256="ab" * 32,
        source_size=10,
        files={"model.safetensors": (5, "cd" * 32)},
        hyperparameters={"lr": 0.1, "output": "/tmp/x", "nan": float("nan")},
        primary_metric="eval_top1",
    )
    base.update(changes)
    return RevisionFacts(**base)  # type: ignore[arg-type]


def test_hubkit_json_is_deterministic_and_has_no_time() -> None:
    first, second = hubkit_json(_facts()), hubkit_json(_facts())
    assert first == second
    record = json.loads(first)
    assert record["epoch"] == 4 and record["weights"] == "ema" and record["hyperparameters"]["nan"] is None
    assert set(record["framework_versions"]) == {"torch", "timm", "safetensors", "huggingface_hub"}
    assert not any(word in first.decode() for word in ("time", "date", "duration"))


def test_hubkit_json_never_carries_a_token() -> None:
    data = hubkit_json(_facts(hyperparameters={"hub_token": "hf_abcdefghijklmnop"}))
    assert b"hf_abcdefghijklmnop" not in data


def test_split_metrics_keeps_results_apart_from_lr() -> None:
    assert split_metrics({"eval_top1": 1.0, "lr": 0.5, "step": 7.0, "x": float("inf")}) == (
        {"eval_top1": 1.0},
        0.5,
        7,
    )


def test_curves_are_byte_identical_on_rerender() -> None:
    data = CurveData(
        (0, 1, 2), {"train_loss": [2.0, 1.0, 0.5]}, "eval_top1", [10.0, 50.0, None], (1, 2), 2, "r"
    )
    png = render_curves(data)
    assert png.startswith(b"\x89PNG") and png == render_curves(data)


def test_remote_comparison_uses_lfs_sha256_or_git_blob_id() -> None:
    small = LocalFile.from_bytes("config.json", b"{}")
    assert same_content(small, RemoteFile("config.json", 2, None, git_blob_sha1(b"{}")))
    assert not same_content(small, RemoteFile("config.json", 2, None, git_blob_sha1(b"[]")))
    big = LocalFile("model.safetensors", 5, "ab" * 32)  # known by hashes only
    assert same_content(big, RemoteFile("model.safetensors", 5, "ab" * 32, "pointer-oid"))
    assert changed_files([big], {}) == [big]


def test_json_report_has_the_contract_shape() -> None:
    rev = RevisionReport(
        "epoch-004",
        4,
        "c" * 40,
        "published",
        10,
        (FileReport("a", 1, "d" * 64),),
        {"m": 1.0},
        True,
        ("best",),
    )
    report = PublishReport(
        "o/n", "http://h", "http://h/o/n", False, MainReport("e" * 40, 4), "v1", (rev,), 2, 5, {"upload": 1.0}
    )
    data = json.loads(report.dumps())
    assert list(data) == [
        "repo_id",
        "endpoint",
        "repo_url",
        "dry_run",
        "main",
        "tag",
        "revisions",
        "uploaded_bytes",
        "deduplicated_bytes",
        "commits",
        "durations",
    ]
    assert data["main"] == {"revision": "main", "commit": "e" * 40, "epoch": 4}
    assert list(data["revisions"][0]) == [
        "revision",
        "epoch",
        "commit",
        "status",
        "bytes_uploaded",
        "bytes_deduplicated",
        "files",
        "metrics",
        "verified",
        "reasons",
    ]
    assert data["uploaded_bytes"] == 15


@pytest.mark.parametrize(
    ("framework", "revision_words", "main_words"),
    [
        ("timm", "after 4 epochs (timm epoch 3)", "holds the checkpoint after 4 epochs (timm epoch 3)"),
        ("open_clip", "after 3 epochs", "holds the checkpoint after 3 epochs"),
    ],
)
def test_summary_words_epochs_as_the_cards_do(framework: str, revision_words: str, main_words: str) -> None:
    from hubkit.publish.summary import render

    rev = RevisionReport(
        "epoch-003", 3, "c" * 40, "published", 10, (FileReport("a", 1, "d" * 64),), {}, True, ()
    )
    report = PublishReport(
        "o/n",
        "http://h",
        "http://h/o/n",
        False,
        MainReport("e" * 40, 3),
        None,
        (rev,),
        2,
        framework=framework,
    )
    lines = render(report, embedded=False).splitlines()
    assert lines[1].split()[:3] == ["epoch-003", "ccccccc", "after"] and revision_words in lines[1]
    assert lines[1].rstrip().endswith("published     1 files, 1 B, verified")
    assert lines[2] == f"  main (eeeeeee) {main_words}"
