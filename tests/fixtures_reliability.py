"""Fixtures for the reliability tests (``tests/test_reliability_*.py``): killable CLI runs and Hub state.

* ``cli_processes``: runs ``hubkit`` (``hubkit.cli.main``) in child processes forked from a server that has
  already imported torch, timm and hubkit (``multiprocessing`` forkserver with preloaded modules). Each
  child is a real, separate process that can be SIGKILLed; it starts in milliseconds instead of the
  ~10 s a fresh interpreter spends importing torch and timm on the CI machine.
* :func:`repo_state`: what a repo looks like through the Hub API (the unmodified client): branches with
  their files and history length, tags. Commit ids are random on the local hub, so every commit id in a
  file's text is replaced by a label (``epoch-001~0`` = tip of that branch) before comparing.
* :func:`store_fingerprint` / :func:`store_problems`: the local hub's data dir read directly, to prove
  "no remote change at all" and "no partial object, no dangling ref" after a crash.
"""

from __future__ import annotations

import faulthandler
import hashlib
import json
import multiprocessing
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import HfApi

STAGING_PREFIX = "hubkit-staging-"
_PRELOAD = [
    "torch",
    "timm",
    "huggingface_hub",
    "matplotlib.pyplot",
    "hubkit.cli",
    "hubkit.cli.publish",
    "hubkit.publish.publisher",
    "hubkit.runs",
    "hubkit.cards",
    "fixtures_reliability",
]


def _cli_child(argv: list[str], env: dict[str, str], log_path: str) -> None:
    """Body of a forked CLI run: the test's environment, stdout+stderr to ``log_path``, exit code = CLI's."""
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # honour the child's TMPDIR (the forkserver may have cached another one)
    # A forkserver child inherits "forkserver" as its start method; the hubkit command has Linux's default
    # ("fork"), which its DataLoader workers (verification) rely on to start in milliseconds.
    multiprocessing.set_start_method("fork", force=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # A run that hangs is asked for its threads' stacks (into the log) before it is killed.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    from hubkit.cli import main

    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class CliProcesses:
    """Start ``hubkit ARGV`` in forked child processes (see the module docstring).

    Example:
        >>> proc = cli.start(["publish", run, "--json"], log)  # SIGKILL-able: proc.pid
        >>> code, output = cli.run(["publish", run, "--json"], log)
    """

    def __init__(self) -> None:
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(_PRELOAD)

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> Any:
        proc = self.ctx.Process(
            target=_cli_child, args=(argv, dict(os.environ if env is None else env), str(log))
        )
        proc.start()
        return proc

    def run(
        self, argv: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 300
    ) -> tuple[int, str]:
        proc = self.start(argv, log, env)
        proc.join(timeout)
        if proc.exitcode is None:
            os.kill(proc.pid, signal.SIGUSR1)
            proc.join(5)
            proc.kill()
            proc.join()
            stacks = log.read_text(errors="replace")[-6000:]
            raise AssertionError(
                f"hubkit {' '.join(argv[:2])} did not finish in {timeout} s; its log:\n{stacks}"
            )
        return int(proc.exitcode), log.read_text(errors="replace")


@pytest.fixture(scope="session")
def cli_processes() -> CliProcesses:
    """Forked, killable ``hubkit`` runs sharing one preloaded interpreter."""
    return CliProcesses()


# --- the Hub as a user sees it ---------------------------------------------------------------------
@dataclass(frozen=True)
class BranchState:
    """One branch: its files (LFS files by sha256, others by their text with commit ids labelled)."""

    files: dict[str, str]  # {"model.safetensors": "lfs:9c1d…", "README.md": "---\nlicense: …"}
    commits: int  # length of the branch's history (a duplicate commit makes it longer)


@dataclass(frozen=True)
class RepoState:
    branches: dict[str, BranchState]  # {"main": …, "epoch-001": …}
    tags: dict[str, str]  # {"v1": "main~0"} (labels, see repo_state)

    def published(self) -> dict[str, BranchState]:
        """Branches other than hubkit's staging branches."""
        return {k: v for k, v in self.branches.items() if not k.startswith(STAGING_PREFIX)}


_HEX = re.compile(r"\b[0-9a-f]{7,40}\b")


def repo_state(endpoint: str, token: str | None, repo_id: str) -> RepoState | None:
    """The state of ``repo_id`` read through huggingface_hub (None when the repo does not exist).

    Commit ids are replaced by labels ``<branch>~<n>`` (n-th ancestor of the branch's tip; ``main`` first,
    then the other branches by name), so states of two hubs compare equal when they hold the same release.
    """
    api = HfApi(endpoint=endpoint, token=token)
    if not api.repo_exists(repo_id):
        return None
    refs = api.list_repo_refs(repo_id)
    heads = {b.name: b.target_commit for b in refs.branches}
    labels: dict[str, str] = {}
    histories: dict[str, list[str]] = {}
    for name in sorted(heads, key=lambda n: (n != "main", n)):
        histories[name] = [c.commit_id for c in api.list_repo_commits(repo_id, revision=heads[name])]
        for depth, cid in enumerate(histories[name]):
            labels.setdefault(cid, f"{name}~{depth}")

    def label(text: str) -> str:
        def swap(match: re.Match[str]) -> str:
            hit = [lab for cid, lab in labels.items() if cid.startswith(match.group(0))]
            return f"<{hit[0]}>" if len(hit) == 1 else match.group(0)

        return _HEX.sub(swap, text)

    branches = {}
    with httpx2.Client(headers={"authorization": f"Bearer {token}"} if token else {}) as http:
        for name, head in heads.items():
            files: dict[str, str] = {}
            for entry in api.list_repo_tree(repo_id, revision=head, recursive=True):
                if not hasattr(entry, "blob_id"):
                    continue
                if entry.lfs is not None:
                    files[entry.path] = f"lfs:{entry.lfs.sha256}:{entry.size}"
                    continue
                data = (
                    http.get(f"{endpoint}/{repo_id}/resolve/{head}/{entry.path}").raise_for_status().content
                )
                try:
                    files[entry.path] = label(data.decode("utf-8"))
                except UnicodeDecodeError:
                    files[entry.path] = "sha256:" + hashlib.sha256(data).hexdigest()
            branches[name] = BranchState(files=files, commits=len(histories[name]))
    tags = {t.name: labels.get(t.target_commit, t.target_commit) for t in refs.tags}
    return RepoState(branches=branches, tags=tags)


def incomplete_branches(state: RepoState | None, clean: RepoState) -> list[str]:
    """Published branches of ``state`` that are not exactly as in ``clean`` (the finished release).

    ``main`` may still be the repo's initial commit (main is committed last); staging branches are
    hubkit's work in progress and are allowed. Tags must point at a complete main.
    """
    if state is None:
        return []
    problems = []
    for name, branch in state.published().items():
        if name == "main" and branch.commits == 1 and set(branch.files) == {".gitattributes"}:
            continue
        if name not in clean.branches:
            problems.append(f"{name}: not in the clean release")
        elif branch.files != clean.branches[name].files:
            diff = sorted(set(branch.files.items()) ^ set(clean.branches[name].files.items()))
            problems.append(f"{name}: files differ: {[path for path, _ in diff]}")
    main = state.branches.get("main")
    for tag, target in state.tags.items():
        if target != "main~0" or main is None or main.files != clean.branches["main"].files:
            problems.append(f"tag {tag} -> {target}, not a complete main")
    return problems


# --- the local hub's data dir, read directly ----------------------------------------------------------
def store_fingerprint(data_dir: Path) -> dict[str, str]:
    """sha256 of every file that makes up repos, objects and the Xet CAS (not ``tmp/``, locks or the key)."""
    result = {}
    for sub in ("repos", "objects", "xet"):
        root = data_dir / sub
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if path.is_file() and path.name != "lock" and "tmp" not in path.relative_to(root).parts:
                result[str(path.relative_to(data_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def _xet_size(data_dir: Path, sha256: str) -> int | None:
    """Size of a content stored in the hub's Xet CAS, if it is there whole (every xorb present)."""
    xet = data_dir / "xet"
    try:
        file_hash = (xet / "sha256" / sha256[:2] / sha256).read_text().strip()
        record = json.loads((xet / "files" / file_hash[:2] / f"{file_hash}.json").read_bytes())
    except (OSError, ValueError):
        return None
    for xorb, *_ in record["terms"]:
        if (
            not (xet / "xorbs" / xorb[:2] / xorb).is_file()
            or not (xet / "xorbs" / xorb[:2] / f"{xorb}.idx").is_file()
        ):
            return None
    return int(record["size"])


def store_problems(data_dir: Path) -> list[str]:
    """Inconsistencies a crash could leave: partial objects, refs to missing commits, files without objects.

    Commit files that no ref reaches are allowed (like git's unreachable objects): they are invisible.
    """
    problems = []
    objects = data_dir / "objects"
    for path in sorted(objects.rglob("*")) if objects.exists() else []:
        if not path.is_file() or path.suffix == ".gitsha1":
            continue
        name = path.parent.name + path.name
        if hashlib.sha256(path.read_bytes()).hexdigest() != name:
            problems.append(f"object {name[:12]} does not hash to its name (partial write)")
    for refs_file in sorted((data_dir / "repos").rglob("refs.json")):
        repo = refs_file.parent
        try:
            refs = json.loads(refs_file.read_text())
        except ValueError:
            problems.append(f"{refs_file}: not JSON")
            continue
        for kind in ("branches", "tags"):
            for name, cid in refs[kind].items():
                commit_file = repo / "commits" / f"{cid}.json"
                if not commit_file.is_file():
                    problems.append(f"{repo.name}: {kind[:-1]} {name} -> missing commit {cid[:7]}")
                    continue
                commit = json.loads(commit_file.read_text())
                for path, (sha256, size, *_rest) in commit["files"].items():
                    obj = objects / sha256[:2] / sha256[2:]
                    if (not obj.is_file() or obj.stat().st_size != size) and _xet_size(
                        data_dir, sha256
                    ) != size:
                        problems.append(f"{repo.name}@{name}: {path} has no complete object")
                for parent in commit["parents"]:
                    if not (repo / "commits" / f"{parent}.json").is_file():
                        problems.append(f"{repo.name}@{name}: parent {parent[:7]} missing")
    return problems


@pytest.fixture
def isolated_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A TMPDIR of the test's own (children inherit it), so work dirs can be watched and checked."""
    work = tmp_path / "tmpdir"
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(work))
    yield work


# --- the release every reliability test publishes -----------------------------------------------------
RELEASE_REPO = "localuser/rel-timm"
# Epoch 1 and the last epoch (4, also on main), tagged: every kind of remote write happens. With
# verification (about 5 s a revision on 2 CPU cores) only the last epoch is published.
RELEASE_ARGS = ("--tag", "v1", "--json")


def report_figures(record: dict[str, object]) -> None:
    """Append one JSON line to $HUBKIT_RELIABILITY_LOG (the figures of RELIABILITY.md), when it is set."""
    path = os.environ.get("HUBKIT_RELIABILITY_LOG")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")


def publish_argv(
    run_dir: Path, endpoint: str, token: str | None, *, verify: bool, extra: tuple[str, ...] = ()
) -> list[str]:
    """``hubkit publish`` of the reliability release (``--no-verify`` unless ``verify``)."""
    argv = ["publish", str(run_dir), "--endpoint", endpoint, "--repo", RELEASE_REPO, *RELEASE_ARGS, *extra]
    argv += ["--select", "last"] if verify else ["--select", "epochs:1", "--no-verify"]
    return argv + (["--token", token] if token else [])


def fresh_env(base: Path) -> dict[str, str]:
    """The current environment with caches of its own under ``base`` (as on a fresh machine)."""
    env = dict(os.environ)
    for name in ("HF_HOME", "HUBKIT_HOME", "XDG_CACHE_HOME", "TMPDIR"):
        (base / name.lower()).mkdir(parents=True, exist_ok=True)
        env[name] = str(base / name.lower())
    return env


@pytest.fixture(scope="session")
def clean_release(
    timm_run_dir: Path, tmp_path_factory: pytest.TempPathFactory, cli_processes: CliProcesses
) -> Any:
    """``get(verify: bool) -> RepoState``: the release published once on a hub without faults or kills."""
    from hubkit.hub import LocalHub

    states: dict[bool, RepoState] = {}

    def get(verify: bool) -> RepoState:
        if verify not in states:
            base = tmp_path_factory.mktemp(f"clean-release-{verify}")
            with LocalHub(base / "hub", token="clean-token-1234") as hub:
                argv = publish_argv(timm_run_dir, hub.endpoint, hub.token, verify=verify)
                code, output = cli_processes.run(argv, base / "log.txt", fresh_env(base))
                assert code == 0, output[-3000:]
                state = repo_state(hub.endpoint, hub.token, RELEASE_REPO)
                assert state is not None
                states[verify] = state
        return states[verify]

    return get
