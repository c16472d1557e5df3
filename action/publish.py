"""The publish step of hubkit's GitHub Action: inputs in, ``hubkit publish --json`` run, outputs and summary out.

The runner hands every action input to this script as an ``INPUT_*`` environment variable (action.yml maps
them in the step's ``env:``), so no input value is ever part of a shell script. This script:

1. masks the token (``::add-mask::``) before printing anything else, and passes it to hubkit through
   ``HF_TOKEN`` only (never on the command line, where ``ps`` and logs would see it);
2. builds the ``hubkit publish`` argument list from the inputs (``--opt=value`` forms and ``--`` before the
   run directory, so no value can be read as another option);
3. runs it with ``--json`` and turns the one JSON report into the step outputs (``revisions``,
   ``main-commit``, ``repo-url``) and a Markdown job summary.

Standard library only: it runs with whatever interpreter has hubkit installed.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

# Inputs that become `--option=value` when non-empty: input name -> hubkit option.
VALUE_OPTIONS: dict[str, str] = {
    "repo-id": "--repo",
    "endpoint": "--endpoint",
    "weights": "--weights",
    "main": "--main",
    "tag": "--tag",
    "branch-format": "--branch-format",
    "eval-data": "--eval-data",
    "template-dir": "--template-dir",
}
# Boolean inputs, as GitHub writes them (YAML 1.2 core schema spellings, any case).
_BOOLEANS = {"true": True, "false": False}
# How the summary shows a revision's verification result.
_VERIFIED = {True: "✅ passed", False: "❌ failed", None: "not run"}


class ActionInputError(Exception):
    """An input value the action cannot use; the message names the input and the fix."""


@dataclass(frozen=True)
class PublishResult:
    """What one ``hubkit publish --json`` run left behind."""

    returncode: int  # 0 on success, hubkit's exit code otherwise
    report: dict[str, Any] | None  # the parsed JSON report; None when hubkit failed or printed none


def input_value(env: Mapping[str, str], name: str) -> str:
    """Return input ``name`` (``run-dir`` reads ``INPUT_RUN_DIR``), stripped; empty when unset.

    Example:
        >>> input_value({"INPUT_RUN_DIR": " runs/a "}, "run-dir")
        'runs/a'
    """
    return env.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def boolean_input(env: Mapping[str, str], name: str) -> bool | None:
    """Return a boolean input, or None when it is empty (hubkit's default applies).

    Example:
        >>> boolean_input({"INPUT_VERIFY": "True"}, "verify")
        True
    """
    value = input_value(env, name)
    if not value:
        return None
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise ActionInputError(
            f"input '{name}' must be true or false, got {value!r}; write `{name}: true` or `{name}: false`."
        ) from None


def resolve_token(env: Mapping[str, str]) -> str:
    """The ``token`` input, else the ``HF_TOKEN`` environment variable, else empty."""
    return input_value(env, "token") or env.get("HF_TOKEN", "").strip()


def mask_token(token: str) -> None:
    """Ask the runner to hide ``token`` (each line of it) in every later line of the log."""
    for line in token.splitlines():
        if line.strip():
            print(f"::add-mask::{line}", flush=True)


def build_argv(env: Mapping[str, str]) -> list[str]:
    """Return the ``hubkit publish`` arguments (after ``hubkit``) for the inputs in ``env``.

    Args:
        env: the step environment (``INPUT_*`` variables).
    Returns:
        the argument list, always ending with ``--json -- RUN_DIR``.
    Example:
        >>> build_argv({"INPUT_RUN_DIR": "runs/a", "INPUT_REPO_ID": "me/m", "INPUT_VERIFY": "false"})
        ['publish', '--repo=me/m', '--no-verify', '--json', '--', 'runs/a']
    """
    run_dir = input_value(env, "run-dir")
    if not run_dir:
        raise ActionInputError("input 'run-dir' is empty; set it to the training run directory to publish.")
    argv = ["publish"]
    for name, option in VALUE_OPTIONS.items():
        value = input_value(env, name)
        if value:
            argv.append(f"{option}={value}")
    # One selection per line, so that a release can publish several kinds of checkpoints.
    for line in input_value(env, "select").splitlines():
        if line.strip():
            argv.append(f"--select={line.strip()}")
    verify = boolean_input(env, "verify")
    if verify is not None:
        argv.append("--verify" if verify else "--no-verify")
    if boolean_input(env, "private"):
        argv.append("--private")
    if boolean_input(env, "dry-run"):
        argv.append("--dry-run")
    if boolean_input(env, "create-pr"):
        argv.append("--create-pr")
    return [*argv, "--json", "--", run_dir]


def find_hubkit() -> str:
    """The ``hubkit`` executable installed beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "hubkit"
    if beside.is_file():
        return str(beside)
    found = shutil.which("hubkit")
    if found is None:
        raise ActionInputError("hubkit is not installed: the action's install step did not run or failed.")
    return found


def run_publish(argv: list[str], token: str, env: Mapping[str, str]) -> PublishResult:
    """Run ``hubkit`` with ``argv``; its stderr goes to the log, its stdout (the JSON report) is parsed."""
    child_env = {k: v for k, v in env.items() if not k.startswith("INPUT_")}
    if token:
        child_env["HF_TOKEN"] = token
    # Whatever hubkit prints (file names, remote messages) must not be read as workflow commands.
    resume = uuid.uuid4().hex
    print(f"::stop-commands::{resume}", flush=True)
    try:
        proc = subprocess.run(
            [find_hubkit(), *argv], env=child_env, stdout=subprocess.PIPE, text=True, check=False
        )
    finally:
        print(f"::{resume}::", flush=True)
    try:
        report = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    if proc.returncode == 0 and not isinstance(report, dict):
        print(
            "::error title=hubkit::hubkit publish --json printed no JSON report.", file=sys.stderr, flush=True
        )
        return PublishResult(1, None)
    # On failure hubkit may still report what it did before the error; keep it for the summary.
    return PublishResult(proc.returncode, report if isinstance(report, dict) else None)


def revision_outputs(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``revisions`` output: one small record per revision of the release, unchanged ones included.

    Example:
        >>> revision_outputs({"revisions": [{"revision": "epoch-002", "commit": "c1", "epoch": 2,
        ...     "status": "unchanged", "verified": None, "files": []}]})
        [{'revision': 'epoch-002', 'commit': 'c1', 'epoch': 2, 'status': 'unchanged', 'verified': None}]
    """
    keys = ("revision", "commit", "epoch", "status", "verified")
    return [{key: rev.get(key) for key in keys} for rev in report.get("revisions", [])]


def write_outputs(path: str, outputs: Mapping[str, str]) -> None:
    """Append step outputs to the runner's ``GITHUB_OUTPUT`` file in its multi-line form."""
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def _cell(value: object) -> str:
    """Text safe inside a Markdown table cell (no HTML, no table breaks, no stray links or code).

    Underscores stay as they are: GitHub does not read intra-word ones (eval_top1) as emphasis.
    """
    text = html.escape(" ".join(str(value).split()), quote=False)
    for char in "\\`*[]|":
        text = text.replace(char, "\\" + char)
    return text


def _metric(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _cell(value)


def _size(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{num_bytes} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def render_summary(report: Mapping[str, Any]) -> str:
    """Return the job summary (Markdown) for a publish report: a revision table and links to the card.

    Example:
        >>> "| Revision |" in render_summary({"repo_id": "me/m", "repo_url": "https://hf.co/me/m",
        ...     "dry_run": False, "main": None, "tag": None, "revisions": []})
        True
    """
    repo_id, url = str(report.get("repo_id", "")), str(report.get("repo_url", ""))
    revisions = list(report.get("revisions", []))
    lines = [f"## hubkit publish: {_cell(repo_id)}", ""]
    if report.get("dry_run"):
        lines += ["**Dry run**: nothing was uploaded; the table shows what a release would publish.", ""]
    lines += [f"Model card: [{_cell(repo_id)}]({quote(url, safe=':/?=&%')})", ""]
    main = report.get("main")
    if main:
        commit = main.get("commit")  # None in a dry run when main would move
        target = f"`{_cell(commit)}`" if commit else "a new commit"
        lines.append(f"`main` → {target} (epoch {_cell(main.get('epoch'))})")
    else:
        lines.append("`main` was not moved.")
    if report.get("tag"):
        lines.append(f"Tag: `{_cell(report['tag'])}`")
    pull = report.get("pull_request")
    if pull:
        lines.append(
            f"**Proposed as [pull request #{_cell(pull.get('num'))}]({quote(str(pull.get('url', '')), safe=':/?=&%')})**: "
            f"nothing moves until an owner runs `hubkit pr merge {_cell(repo_id)} {_cell(pull.get('num'))}`."
        )
    lines.append("")

    metric_names: list[str] = []
    for rev in revisions:
        metric_names += [name for name in rev.get("metrics") or {} if name not in metric_names]
    header = ["Revision", "Epoch", "Status", "Commit", *map(_cell, metric_names), "Verified", "Why"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rev in revisions:
        name = str(rev.get("revision", ""))
        link = f"[{_cell(name)}]({url}/tree/{quote(name, safe='')})" if url else _cell(name)
        commit = rev.get("commit")
        metrics = rev.get("metrics") or {}
        row = [
            link,
            _cell(rev.get("epoch", "")),
            _cell(rev.get("status", "")),
            f"`{_cell(str(commit)[:12])}`" if commit else "",
            *(_metric(metrics[m]) if m in metrics else "" for m in metric_names),
            _VERIFIED.get(rev.get("verified"), _cell(rev.get("verified"))),
            _cell("; ".join(map(str, rev.get("reasons") or []))),
        ]
        lines.append("| " + " | ".join(row) + " |")
    counts: dict[str, int] = {}
    for rev in revisions:
        counts[str(rev.get("status"))] = counts.get(str(rev.get("status")), 0) + 1
    tally = ", ".join(f"{n} {_cell(status)}" for status, n in counts.items()) or "no revisions"
    lines += [
        "",
        f"{tally}; uploaded {_size(int(report.get('uploaded_bytes') or 0))} "
        f"in {int(report.get('commits') or 0)} commit(s).",
    ]
    return "\n".join(lines) + "\n"


def render_failure(returncode: int) -> str:
    """The job summary when hubkit failed: where to look, since the error itself is in the log."""
    return (
        "## hubkit publish failed\n\n"
        f"`hubkit publish` exited with code {returncode}; the error message and its hint are in the log "
        "of the *Publish with hubkit* step. `main` and the tag move only once every revision is in place, "
        "so they are untouched; re-running the job publishes only what is missing.\n"
    )


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the publish step; return its exit code."""
    env = dict(os.environ if env is None else env)
    token = resolve_token(env)
    if token:
        mask_token(token)
    try:
        argv = build_argv(env)
        print("Running: hubkit " + " ".join(argv), flush=True)
        result = run_publish(argv, token, env)
    except ActionInputError as exc:
        print(f"::error title=hubkit::{exc}", flush=True)
        return 2
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    report = result.report
    if report is not None:
        main_ref = report.get("main") or {}
        write_outputs(
            env["GITHUB_OUTPUT"],
            {
                "revisions": json.dumps(revision_outputs(report), separators=(",", ":")),
                "main-commit": str(main_ref.get("commit") or ""),
                "repo-url": str(report.get("repo_url") or ""),
                "pull-request": str((report.get("pull_request") or {}).get("url") or ""),
            },
        )
        _append(summary_path, render_summary(report))
        for rev in report.get("revisions", []):
            print(f"{rev.get('revision')}: {rev.get('status')} (commit {rev.get('commit')})", flush=True)
    if result.returncode != 0:
        _append(summary_path, render_failure(result.returncode))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
