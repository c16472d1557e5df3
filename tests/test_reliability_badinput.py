"""The bad-input corpus (``tests/badinput/cases.yaml``) through the real CLI entry point.

Each case builds its bad input at test time from the small fixture runs (a malicious pickle, a truncated
checkpoint, another architecture's weights, broken run files, broken templates, bad names), runs
``hubkit`` and checks: the exit code, the message fragments (what is wrong + what to do), no traceback,
no token, the local hub's store byte-for-byte unchanged, and the malicious pickle's canary never created.
Library-level checks of the same inputs live in test_runs_read.py, test_runs_safeload.py,
test_publish_units.py, test_tags_errors.py and test_cards_templates.py.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import hubkit
from fixtures_reliability import store_fingerprint
from fixtures_runs import copy_run
from huggingface_hub import HfApi

from hubkit.hub import LocalHub

CASES = yaml.safe_load((Path(__file__).parent / "badinput" / "cases.yaml").read_text())
TOKEN = "hf_badinputTOKEN12345678"
EXISTING = "localuser/existing"


@dataclass
class Built:
    run: Path | None = None
    templates: Path | None = None


class _Canary:
    """Pickles to ``Path(canary).touch()``: if hubkit ever unpickled it unsafely, the file would appear."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (pathlib.Path.touch, (pathlib.Path(self.canary),))


def _rewrite_checkpoint(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    import torch

    from hubkit.runs import load_checkpoint

    checkpoint = load_checkpoint(path)  # memory-mapped: write elsewhere, then replace
    change(checkpoint)
    torch.save(checkpoint, path.with_suffix(".tmp"))
    del checkpoint
    os.replace(path.with_suffix(".tmp"), path)


def _epoch4_files(run: Path) -> list[Path]:
    return [run / name for name in ("checkpoint-4.pth.tar", "last.pth.tar", "model_best.pth.tar")]


# --- builders (named by cases.yaml) ---------------------------------------------------------------
def malicious_pickle(ctx: Any) -> Built:
    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    for path in _epoch4_files(run):
        _rewrite_checkpoint(path, lambda c: c.update(extra=_Canary(ctx.canary)))
    return Built(run=run)


def truncated_checkpoint(ctx: Any) -> Built:
    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    for path in _epoch4_files(run):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return Built(run=run)


def other_architecture(ctx: Any) -> Built:
    import timm

    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    other = timm.create_model("test_efficientnet", num_classes=10).state_dict()
    for path in _epoch4_files(run):
        _rewrite_checkpoint(path, lambda c: c.update(state_dict=other, state_dict_ema=other))
    return Built(run=run)


def empty_run_dir(ctx: Any) -> Built:
    (ctx.tmp / "run").mkdir()
    return Built(run=ctx.tmp / "run")


def no_metrics(ctx: Any) -> Built:
    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    (run / "summary.csv").unlink()
    return Built(run=run)


def _set_metric(run: Path, column: str, value: str) -> None:
    lines = (run / "summary.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index(column)] = value
    lines[3] = ",".join(row)
    (run / "summary.csv").write_text("\n".join(lines) + "\n")


def nan_metric(ctx: Any) -> Built:
    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    _set_metric(run, "eval_loss", "nan")
    return Built(run=run)


def inf_metric(ctx: Any) -> Built:
    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    _set_metric(run, "eval_top1", "inf")
    return Built(run=run)


def huge_args_yaml(ctx: Any) -> Built:
    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    with open(run / "args.yaml", "a") as handle:
        handle.write("# padding\n" * 300_000)  # 3 MB
    return Built(run=run)


def malformed_args_yaml(ctx: Any) -> Built:
    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    (run / "args.yaml").write_text("model: [unclosed\nlr: 0.1\n")
    return Built(run=run)


def malformed_params_txt(ctx: Any) -> Built:
    run = copy_run(ctx.request.getfixturevalue("openclip_run_dir"), ctx.tmp / "run")
    with open(run / "params.txt", "a") as handle:
        handle.write("this line has no colon\n" + "\x00\xff" * 10 + "\n")
    return Built(run=run)


def huge_params_txt(ctx: Any) -> Built:
    run = copy_run(ctx.request.getfixturevalue("openclip_run_dir"), ctx.tmp / "run")
    with open(run / "params.txt", "a") as handle:
        handle.write("padding: x\n" * 200_000)  # 2.2 MB
    return Built(run=run)


def huge_summary_csv(ctx: Any) -> Built:
    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    with open(run / "summary.csv", "r+b") as handle:  # 65 MiB, sparse: cheap to make
        handle.truncate(65 * 1024 * 1024)
    return Built(run=run)


def symlink_outside(ctx: Any) -> Built:
    run = copy_run(ctx.timm_run_dir, ctx.tmp / "run")
    outside = ctx.tmp / "elsewhere.pth.tar"
    shutil.copy(run / "checkpoint-4.pth.tar", outside)
    (run / "checkpoint-4.pth.tar").unlink()
    os.symlink(outside, run / "checkpoint-4.pth.tar")
    return Built(run=run)


def _templates(ctx: Any, name: str, text: str) -> Built:
    folder = ctx.tmp / "templates"
    folder.mkdir()
    (folder / name).write_text(text)
    return Built(run=copy_run(ctx.timm_run_dir, ctx.tmp / "run"), templates=folder)


def template_undefined(ctx: Any) -> Built:
    return _templates(ctx, "checkpoint_card.md.j2", "# {{ ctx.repo_id }}\n{{ ctx.no_such_field }}\n")


def main_template_undefined(ctx: Any) -> Built:
    return _templates(ctx, "model_card.md.j2", "# {{ ctx.repo_id }}\n\n{{ ctx.no_such_field }}\n")


_BROKEN_TEMPLATE = "# {{ ctx.repo_id }}\n\n{% if ctx.repo_id %}unclosed {{ ctx.repo_id \n"


def template_syntax(ctx: Any) -> Built:
    built = _templates(ctx, "checkpoint_card.md.j2", _BROKEN_TEMPLATE)
    assert built.templates is not None
    (built.templates / "model_card.md.j2").write_text(_BROKEN_TEMPLATE)
    return built


def checkpoint_template_syntax(ctx: Any) -> Built:
    # Only the per-revision card is broken: main's card (rendered first) passes, this one must still stop
    # the publish before any remote write.
    return _templates(ctx, "checkpoint_card.md.j2", _BROKEN_TEMPLATE)


def intact_run(ctx: Any) -> Built:
    return Built(run=ctx.timm_run_dir)


def nothing(ctx: Any) -> Built:
    return Built()


# --- the test -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def badinput_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """A hub holding one repo with two branches, so that "no remote change" has something to keep."""
    with LocalHub(tmp_path_factory.mktemp("badinput-hub"), token=TOKEN) as hub:
        api = HfApi(endpoint=hub.endpoint, token=TOKEN)
        api.create_repo(EXISTING)
        api.upload_file(path_or_fileobj=b"# existing\n", path_in_repo="README.md", repo_id=EXISTING)
        api.create_branch(EXISTING, branch="epoch-000")
        yield hub


@dataclass
class _Ctx:
    timm_run_dir: Path
    tmp: Path
    canary: Path
    request: pytest.FixtureRequest


def _fill(text: str, values: dict[str, str]) -> str:
    """Replace the corpus placeholders only (``{epoch}`` in a branch format stays as it is)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _hubkit(argv: list[str]) -> tuple[int, str]:
    code, out, err = hubkit(*argv)
    return code, err + out


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(
    case: dict[str, Any],
    badinput_hub: LocalHub,
    timm_run_dir: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    ctx = _Ctx(timm_run_dir, tmp_path, tmp_path / "canary", request)
    built: Built = globals()[case["build"]](ctx)
    values = {
        "run": str(built.run),
        "templates": str(built.templates),
        "repo": "localuser/bad-input",
        "existing": EXISTING,
    }
    argv = [_fill(arg, values) for arg in case["argv"]]
    if argv[0] in ("publish", "verify", "pr"):
        argv += ["--endpoint", badinput_hub.endpoint, "--token", TOKEN]
    before = store_fingerprint(badinput_hub.data_dir)
    requests: list[str] = []
    badinput_hub.observe(lambda method, path: requests.append(f"{method} {path}"))
    try:
        code, output = _hubkit(argv)
    finally:
        badinput_hub.observe(None)

    assert code == case["exit"], output
    for fragment in case["expect"]:
        assert _fill(fragment, values) in output, (fragment, output)
    assert "Error:" in output and "hint:" in output, output  # what is wrong, and what to do
    assert "Traceback" not in output and TOKEN not in output
    assert store_fingerprint(badinput_hub.data_dir) == before, "the hub changed"
    if case.get("requests") == "none":
        assert requests == [], f"requests reached the hub before the input was refused: {requests}"
    assert not ctx.canary.exists(), "code hidden in a checkpoint ran"
