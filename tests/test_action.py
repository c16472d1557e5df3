"""hubkit's GitHub Action (action.yml, action/, examples/workflows/).

Static checks: the files validate against GitHub's published schemas, zizmor finds nothing of medium
severity or more, every ``uses:`` is pinned by SHA and no ``run:`` script interpolates an expression.

Behaviour: :func:`run_action` executes the action's ``run:`` steps the way the runner does (each step's
``env:`` evaluated from the inputs, ``GITHUB_OUTPUT`` / ``GITHUB_STEP_SUMMARY`` files per step,
``GITHUB_ACTION_PATH``, ``bash --noprofile --norc -eo pipefail``), against the local hub and a real timm
run. It skips only the steps that install Python and hubkit: the current .venv's hubkit is on PATH instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION_YML = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
VENV_BIN = Path(sys.executable).parent
# The steps the harness leaves out (by id): they install Python and hubkit, which the .venv already has.
INSTALL_STEPS = ("setup-python", "install")
TOKEN = "hf_actionTestToken0123456789abcdef"


def _load_step_script() -> Any:
    # action/publish.py is a script the runner executes by path, not a module of the hubkit package.
    spec = importlib.util.spec_from_file_location("hubkit_action_publish", ROOT / "action" / "publish.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)
    return module


action_publish = _load_step_script()


def _tool(name: str) -> str:
    path = VENV_BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed; install the dev extra (pip install -e '.[dev]')")
    return found


def _all_uses(document: Any) -> list[str]:
    """Every ``uses:`` value in a workflow or action document."""
    if isinstance(document, dict):
        found = [document["uses"]] if isinstance(document.get("uses"), str) else []
        return found + [u for value in document.values() for u in _all_uses(value)]
    if isinstance(document, list):
        return [u for item in document for u in _all_uses(item)]
    return []


def _all_run_scripts(document: Any) -> list[str]:
    if isinstance(document, dict):
        found = [document["run"]] if isinstance(document.get("run"), str) else []
        return found + [s for value in document.values() for s in _all_run_scripts(value)]
    if isinstance(document, list):
        return [s for item in document for s in _all_run_scripts(item)]
    return []


# ---------------------------------------------------------------------------------------------------------
# A small runner for composite actions: just what GitHub's runner does for `run:` steps.

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_PROPERTY = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)+$")


def evaluate(text: str, context: dict[str, Any]) -> str:
    """Substitute ``${{ a.b.c }}`` property look-ups; anything fancier is refused rather than faked."""

    def lookup(match: re.Match[str]) -> str:
        expression = match.group(1)
        if not _PROPERTY.match(expression):
            raise NotImplementedError(
                f"the test harness only evaluates property look-ups, not {expression!r}"
            )
        value: Any = context
        for part in expression.split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        return "" if value is None else str(value)  # GitHub renders a missing property as ''

    return _EXPRESSION.sub(lookup, text)


def parse_output_file(path: Path) -> dict[str, str]:
    """Read a ``GITHUB_OUTPUT`` file (``name=value`` and ``name<<DELIMITER`` forms)."""
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, value = line.split("=", 1)
            outputs[name] = value
            i += 1
    return outputs


@dataclass(frozen=True)
class ActionRun:
    """What a run of the action left: the runner would show ``log`` and keep the rest."""

    failed_step: str | None  # id of the step that failed; None when every step succeeded
    log: str  # stdout and stderr of every step, in order
    outputs: dict[str, str]  # the action's outputs, evaluated from its `outputs:` block
    summary: str  # the job summary: every step's GITHUB_STEP_SUMMARY, concatenated
    output_files: str  # raw text of every GITHUB_OUTPUT file (to check for leaks)


def run_action(inputs: dict[str, str], workspace: Path, env: dict[str, str] | None = None) -> ActionRun:
    """Run action.yml's ``run:` steps with ``inputs`` in ``workspace``, as the Actions runner would."""
    action = yaml.safe_load(ACTION_YML.read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    unknown = set(inputs) - set(action["inputs"])
    assert not unknown, f"inputs not declared in action.yml: {unknown}"
    temp = Path(tempfile.mkdtemp(prefix="runner-temp-", dir=workspace.parent))  # fresh per run, as on GitHub
    context: dict[str, Any] = {
        "inputs": {
            name: inputs.get(name, spec.get("default", "")) for name, spec in action["inputs"].items()
        },
        "github": {"action_path": str(ROOT), "workspace": str(workspace)},
        "runner": {"temp": str(temp)},
        "steps": {},
    }
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}
    base_env.update(env or {})
    base_env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{base_env.get('PATH', '')}",
        GITHUB_ACTION_PATH=str(ROOT),
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_ACTIONS="true",
        RUNNER_TEMP=str(temp),
    )
    log, summary, output_files = [], [], []
    failed = None
    for index, step in enumerate(action["runs"]["steps"]):
        step_id = step.get("id", f"step{index}")
        assert "if" not in step, "the harness does not evaluate `if:`; teach it before using one"
        if step_id in INSTALL_STEPS:
            context["steps"][step_id] = {"outputs": {}, "outcome": "skipped"}
            continue
        assert "uses" not in step, f"step {step_id} uses an action the harness cannot run"
        assert step["shell"] == "bash"
        script = step["run"]
        assert "${{" not in script, f"step {step_id} interpolates an expression into its script"
        step_dir = temp / f"step-{index}"
        step_dir.mkdir()
        (step_dir / "script.sh").write_text(script, encoding="utf-8")
        step_env = dict(base_env)
        step_env.update(
            GITHUB_OUTPUT=str(step_dir / "output"),
            GITHUB_STEP_SUMMARY=str(step_dir / "summary"),
            **{name: evaluate(str(value), context) for name, value in (step.get("env") or {}).items()},
        )
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(step_dir / "script.sh")],
            cwd=workspace,
            env=step_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
            check=False,
        )
        log.append(proc.stdout)
        for name in ("output", "summary"):
            (step_dir / name).touch()
        summary.append((step_dir / "summary").read_text(encoding="utf-8"))
        output_files.append((step_dir / "output").read_text(encoding="utf-8"))
        context["steps"][step_id] = {"outputs": parse_output_file(step_dir / "output")}
        if proc.returncode != 0:
            failed = step_id
            break
    outputs = {name: evaluate(spec["value"], context) for name, spec in action["outputs"].items()}
    return ActionRun(failed, "".join(log), outputs, "".join(summary), "".join(output_files))


def assert_token_hidden(run: ActionRun, token: str) -> None:
    """The token shows only inside the runner's ``::add-mask::`` command, which the runner never prints."""
    log_lines = run.log.splitlines()
    mask_lines = [i for i, line in enumerate(log_lines) if line == f"::add-mask::{token}"]
    assert mask_lines == [0], "the token must be masked first thing, once"
    assert token not in "\n".join(log_lines[1:])
    assert token not in run.summary
    assert token not in run.output_files
    assert all(token not in value for value in run.outputs.values())


# ---------------------------------------------------------------------------------------------------------
# Static checks


def test_action_yml_validates_against_github_actions_schema() -> None:
    tool = _tool("check-jsonschema")
    proc = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-actions", str(ACTION_YML)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_example_workflows_validate_against_github_workflows_schema() -> None:
    tool = _tool("check-jsonschema")
    assert {p.name for p in WORKFLOWS} >= {"release.yml", "release-gpu.yml"}
    proc = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("doc", ["docs/action.md", "README.md"])
def test_docs_example_is_a_valid_workflow(tmp_path: Path, doc: str) -> None:
    tool = _tool("check-jsonschema")
    text = (ROOT / doc).read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert example is not None, f"{doc} has no yaml example"
    # The one placeholder readers fill in: the commit of the hubkit release they use.
    workflow = example.group(1).replace("<full commit SHA>", "0" * 40)
    assert _all_uses(yaml.safe_load(workflow)) == [f"hubkit-dev/hubkit@{'0' * 40}"]
    (tmp_path / "release.yml").write_text(workflow, encoding="utf-8")
    proc = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(tmp_path / "release.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_reports_nothing_of_medium_severity_or_more() -> None:
    tool = _tool("zizmor")
    proc = subprocess.run(
        [tool, "--offline", "--format=json", "--min-severity=medium", str(ACTION_YML), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    findings = json.loads(proc.stdout)
    assert findings == [], json.dumps(findings, indent=2)
    # All three files were audited (zizmor skips what it cannot parse, with only a warning).
    for path in (ACTION_YML, *WORKFLOWS):
        assert f"completed {path.relative_to(ROOT)}" in proc.stderr or f"completed {path}" in proc.stderr


def test_every_action_is_pinned_by_full_commit_sha() -> None:
    for path in (ACTION_YML, *WORKFLOWS):
        uses = _all_uses(yaml.safe_load(path.read_text(encoding="utf-8")))
        assert uses, path
        for ref in uses:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), (
                f"{path.name}: {ref} is not SHA-pinned"
            )


def test_no_run_script_interpolates_an_expression() -> None:
    # Inputs reach scripts through env: only; `${{ }}` inside `run:` would be a script-injection hole.
    for path in (ACTION_YML, *WORKFLOWS):
        for script in _all_run_scripts(yaml.safe_load(path.read_text(encoding="utf-8"))):
            assert "${{" not in script, f"{path.name}: {script!r}"


def test_every_documented_input_reaches_the_publish_step() -> None:
    action = yaml.safe_load(ACTION_YML.read_text(encoding="utf-8"))
    steps = {step.get("id"): step for step in action["runs"]["steps"]}
    publish_env = steps["publish"]["env"]
    for name in action["inputs"]:
        if name in ("python-version", "hubkit-version", "extras"):  # install-time inputs
            continue
        variable = "INPUT_" + name.upper().replace("-", "_")
        assert publish_env.get(variable) == f"${{{{ inputs.{name} }}}}", name
    assert steps["install"]["env"]["HUBKIT_VERSION"] == "${{ inputs.hubkit-version }}"
    assert steps["install"]["env"]["HUBKIT_EXTRAS"] == "${{ inputs.extras }}"
    # The token goes to the publish step and nowhere else.
    for step_id, step in steps.items():
        if step_id != "publish":
            assert "inputs.token" not in json.dumps(step), step_id


# ---------------------------------------------------------------------------------------------------------
# The publish step script


def test_build_argv_maps_inputs_to_options() -> None:
    env = {
        "INPUT_RUN_DIR": "runs/digits",
        "INPUT_REPO_ID": "me/digits",
        "INPUT_TOKEN": TOKEN,
        "INPUT_ENDPOINT": "http://127.0.0.1:9",
        "INPUT_SELECT": "best\nlast\n",
        "INPUT_WEIGHTS": "ema",
        "INPUT_MAIN": "best",
        "INPUT_TAG": "v1.0",
        "INPUT_BRANCH_FORMAT": "epoch-{epoch:03d}",
        "INPUT_VERIFY": "TRUE",
        "INPUT_EVAL_DATA": "data/eval",
        "INPUT_TEMPLATE_DIR": "cards",
        "INPUT_PRIVATE": "true",
        "INPUT_DRY_RUN": "false",
        "INPUT_CREATE_PR": "true",
    }
    assert action_publish.build_argv(env) == [
        "publish",
        "--repo=me/digits",
        "--endpoint=http://127.0.0.1:9",
        "--weights=ema",
        "--main=best",
        "--tag=v1.0",
        "--branch-format=epoch-{epoch:03d}",
        "--eval-data=data/eval",
        "--template-dir=cards",
        "--select=best",
        "--select=last",
        "--verify",
        "--private",
        "--create-pr",
        "--json",
        "--",
        "runs/digits",
    ]


def test_build_argv_keeps_hostile_values_as_values() -> None:
    argv = action_publish.build_argv({"INPUT_RUN_DIR": "--help", "INPUT_TAG": "$(touch pwned) --force"})
    assert argv == ["publish", "--tag=$(touch pwned) --force", "--json", "--", "--help"]


@pytest.mark.parametrize(("name", "value"), [("verify", "yes"), ("dry-run", "1"), ("private", "on")])
def test_boolean_inputs_accept_only_true_or_false(name: str, value: str) -> None:
    env = {"INPUT_RUN_DIR": "runs/a", "INPUT_" + name.upper().replace("-", "_"): value}
    with pytest.raises(action_publish.ActionInputError, match=f"input '{name}' must be true or false"):
        action_publish.build_argv(env)


def test_summary_escapes_markdown_and_html_from_the_report() -> None:
    report = {
        "repo_id": "me/m",
        "repo_url": "https://huggingface.co/me/m",
        "dry_run": False,
        "main": None,
        "tag": None,
        "revisions": [
            {
                "revision": "epoch-001",
                "epoch": 1,
                "commit": "a" * 40,
                "status": "published",
                "metrics": {"eval_top1": 12.3456789},
                "verified": False,
                "reasons": ["best | <script>alert(1)</script>\nnext"],
            }
        ],
        "uploaded_bytes": 2048,
        "commits": 1,
    }
    summary = action_publish.render_summary(report)
    row = next(line for line in summary.splitlines() if line.startswith("| [epoch"))
    assert row.count(" | ") == 6  # 7 cells: the pipe in the reason is escaped
    assert "<script>" not in summary and "&lt;script&gt;" in summary
    assert "| 12.35 |" in row and "❌ failed" in row and f"`{'a' * 12}`" in row
    assert "1 published; uploaded 2.0 KiB in 1 commit(s)." in summary


def _install(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the action's install step as the runner would, with ``env`` added."""
    runner = {
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "RUNNER_TEMP": str(tmp_path),
    }
    return subprocess.run(
        ["bash", str(ROOT / "action" / "install.sh")],
        env={**os.environ, **env, **runner},
        capture_output=True,
        text=True,
        check=False,
    )


def test_install_script_refuses_a_malformed_hubkit_version(tmp_path: Path) -> None:
    proc = _install(tmp_path, HUBKIT_VERSION="--index-url=http://example.invalid/simple")
    assert proc.returncode == 2
    assert "hubkit-version must be a version number" in proc.stderr
    assert not (tmp_path / "hubkit-action-venv").exists()


@pytest.mark.parametrize("extras", ["mmpretrain]; rm -rf /", "--index-url=http://x", "MMPreTrain", "a,,b"])
def test_install_script_refuses_malformed_extras(tmp_path: Path, extras: str) -> None:
    proc = _install(tmp_path, HUBKIT_EXTRAS=extras)
    assert proc.returncode == 2
    assert "extras must be comma-separated extra names" in proc.stderr
    assert not (tmp_path / "hubkit-action-venv").exists()


# ---------------------------------------------------------------------------------------------------------
# The action end to end, run the way the runner runs it


def test_action_fails_on_a_bad_boolean_input_before_running_hubkit(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    run = run_action({"run-dir": "run", "verify": "maybe", "token": TOKEN}, workspace)
    assert run.failed_step == "publish"
    assert "::error title=hubkit::input 'verify' must be true or false" in run.log
    assert "Running: hubkit" not in run.log
    assert_token_hidden(run, TOKEN)


def _revision_rows(summary: str) -> dict[str, str]:
    """The summary table's rows by revision name."""
    rows = {}
    for line in summary.splitlines():
        match = re.match(r"\| \[([^\]]+)\]\(", line)
        if match:
            rows[match.group(1).replace("\\", "")] = line
    return rows


@pytest.mark.slow
def test_action_publishes_a_timm_run_and_a_rerun_changes_nothing(
    hub: Any, timm_run_dir: Path, tmp_path: Path
) -> None:
    from huggingface_hub import HfApi

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copytree(timm_run_dir, workspace / "run")  # relative run-dir, as after a checkout or download
    repo_id = "localuser/timm-digits"
    inputs = {
        "run-dir": "run",
        "repo-id": repo_id,
        "token": hub.token,
        "endpoint": hub.endpoint,
        "select": "epochs:1,3\nlast",  # one selection per line, united by hubkit
        "tag": "v1.0",
        "verify": "true",
    }

    first = run_action(inputs, workspace)
    assert first.failed_step is None, first.log
    revisions = json.loads(first.outputs["revisions"])
    assert [r["epoch"] for r in revisions] == [1, 3, 4], first.log
    assert {r["status"] for r in revisions} == {"published"}
    assert all(r["verified"] is True for r in revisions)
    # The outputs name what is really on the hub.
    refs = HfApi(endpoint=hub.endpoint, token=hub.token).list_repo_refs(repo_id)
    branches = {b.name: b.target_commit for b in refs.branches}
    assert {r["revision"]: r["commit"] for r in revisions}.items() <= branches.items()
    assert first.outputs["main-commit"] == branches["main"]
    assert {t.name: t.target_commit for t in refs.tags} == {"v1.0": branches["main"]}
    assert first.outputs["repo-url"].startswith(hub.endpoint) and first.outputs["repo-url"].endswith(repo_id)
    # The summary: a link to the card and one row per revision with its metrics and verification.
    assert f"Model card: [{repo_id}]({first.outputs['repo-url']})" in first.summary
    header = next(line for line in first.summary.splitlines() if line.startswith("| Revision |"))
    assert "| eval_top1 |" in header and header.endswith("| Verified | Why |")
    rows = _revision_rows(first.summary)
    assert set(rows) == {r["revision"] for r in revisions}
    for rev in revisions:
        row = rows[rev["revision"]]
        assert f"| published | `{rev['commit'][:12]}` |" in row and "✅ passed" in row
    assert_token_hidden(first, hub.token)

    # Re-run the same release, the token now from HF_TOKEN: nothing new, every revision still reported.
    second = run_action({k: v for k, v in inputs.items() if k != "token"}, workspace, {"HF_TOKEN": hub.token})
    assert second.failed_step is None, second.log
    again = json.loads(second.outputs["revisions"])
    assert [(r["revision"], r["commit"]) for r in again] == [(r["revision"], r["commit"]) for r in revisions]
    assert {r["status"] for r in again} == {"unchanged"}
    assert second.outputs["main-commit"] == first.outputs["main-commit"]
    assert second.outputs["repo-url"] == first.outputs["repo-url"]
    assert set(_revision_rows(second.summary)) == set(rows)
    assert f"{len(again)} unchanged; uploaded 0 B in 0 commit(s)." in second.summary
    assert_token_hidden(second, hub.token)


def test_action_reports_a_failed_publish_without_leaking_the_token(hub: Any, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    inputs = {
        "run-dir": "no-such-run",
        "repo-id": "localuser/x",
        "token": hub.token,
        "endpoint": hub.endpoint,
    }
    run = run_action(inputs, workspace)
    assert run.failed_step == "publish"
    assert "no-such-run" in run.log  # hubkit's own message reaches the log
    assert "## hubkit publish failed" in run.summary
    assert run.outputs == {"revisions": "", "main-commit": "", "repo-url": "", "pull-request": ""}
    assert_token_hidden(run, hub.token)


@pytest.mark.slow
def test_action_dry_run_plans_and_uploads_nothing(hub: Any, timm_run_dir: Path, tmp_path: Path) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    inputs = {
        "run-dir": str(timm_run_dir),  # read only: a dry run writes nothing, locally or remotely
        "repo-id": "localuser/dry",
        "token": hub.token,
        "endpoint": hub.endpoint,
        "select": "last",
        "verify": "false",
        "dry-run": "true",
    }
    run = run_action(inputs, workspace)
    assert run.failed_step is None, run.log
    revisions = json.loads(run.outputs["revisions"])
    assert [(r["epoch"], r["status"], r["verified"]) for r in revisions] == [(4, "planned", None)]
    assert run.summary.count("**Dry run**") == 1 and "| planned |" in run.summary
    assert "`main` → a new commit (epoch 4)" in run.summary
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.endpoint, token=hub.token).list_repo_refs("localuser/dry")
    assert_token_hidden(run, hub.token)
