"""``hubkit publish`` killed with SIGKILL at 14 points of its convert, upload and commit phases.

Each point starts from an empty hub, kills the publish exactly when the server sees a given request
arrive (``LocalHub.observe``) or when the converter starts writing a given revision (a file appears in the
publish's work dir), then checks:

1. at the kill point, every published branch (not ``hubkit-staging-*``) and tag is byte-for-byte the
   clean release's (``main`` may still be the repo's initial commit): nothing half-made is visible;
2. re-running the same command exits 0 and leaves the repo identical to a clean publish: the same
   branches, tags and files, and no branch with an extra (duplicate) commit.

A point that is never reached fails the test (the child must die by SIGKILL), so the list below stays
honest when the request sequence changes. The release: epoch 1 and epoch 4 (main), tagged ``v1``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_reliability import (
    RELEASE_REPO,
    CliProcesses,
    incomplete_branches,
    publish_argv,
    repo_state,
    report_figures,
)

from hubkit.hub import LocalHub


@dataclass(frozen=True)
class KillPoint:
    """Where to SIGKILL the publish: at the n-th request matching ``request``, or when ``work_file`` appears."""

    id: str  # "staging-commit"
    phase: str  # "commit: epoch-001's staged commit POST sent, answer not received"
    request: tuple[str, str] | None = None  # ("POST", "*/commit/hubkit-staging-epoch-001")
    nth: int = 1
    work_file: str | None = None  # glob under the publish's TMPDIR: "hubkit-publish-*/epoch-001/*"
    not_yet: str | None = None  # a request glob that must not have arrived yet (proves the phase)


KILL_POINTS = [
    KillPoint("plan-refs", "plan: first read of the refs, before anything is written", ("GET", "*/refs")),
    KillPoint(
        "convert-first",
        "convert: epoch-001's safetensors being written, before the first remote write",
        work_file="hubkit-publish-*/epoch-001/*",
        not_yet="/api/repos/create",
    ),
    KillPoint("create-repo", "write: repo creation request sent", ("POST", "/api/repos/create")),
    KillPoint(
        "staging-branch",
        "stage: staging branch of epoch-001 requested",
        ("POST", "*/branch/hubkit-staging-*"),
    ),
    KillPoint(
        "preupload", "upload: preupload of epoch-001's files", ("POST", "*/preupload/hubkit-staging-*")
    ),
    KillPoint(
        "xorb-upload", "upload: weights xorb POST (Xet), body in flight", ("POST", "/_xet/*/v1/xorbs/*")
    ),
    KillPoint(
        "shard-upload", "upload: shard POST registering the weights (Xet)", ("POST", "/_xet/*/v1/shards")
    ),
    KillPoint(
        "staging-commit", "commit: epoch-001's staged commit POST sent", ("POST", "*/commit/hubkit-staging-*")
    ),
    KillPoint(
        "promote", "commit: branch epoch-001 created at the staged commit", ("POST", "*/branch/epoch-001")
    ),
    KillPoint("drop-staging", "commit: staging branch deleted", ("DELETE", "*/branch/hubkit-staging-*")),
    KillPoint(
        "convert-second",
        "convert (background) while epoch-001 uploads: epoch-004's safetensors being written",
        work_file="hubkit-publish-*/epoch-004/*",
        not_yet="*/branch/hubkit-staging-epoch-004",
    ),
    KillPoint(
        "second-xorb-upload",
        "upload ahead: epoch-004's weights xorb POST (Xet), while epoch-001 is staged",
        ("POST", "/_xet/*/v1/xorbs/*"),
        nth=2,
    ),
    KillPoint(
        "main-commit", "commit: main's commit POST (copies + card + curves) sent", ("POST", "*/commit/main")
    ),
    KillPoint("tag", "commit: tag v1 requested, main already complete", ("POST", "*/tag/*")),
]


def _kill_at(
    point: KillPoint, hub: LocalHub, cli: CliProcesses, argv: list[str], work: Path, log: Path
) -> list[tuple[str, str]]:
    """Run the publish and SIGKILL it at ``point``; return the requests the server saw until then."""
    seen: list[tuple[str, str]] = []
    fired = threading.Event()
    pid: list[int] = []
    matches = 0

    def kill(target: int) -> None:
        # The forkserver reaps its children at once: a pid that already died is gone, not a zombie.
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)

    def fire() -> None:
        fired.set()
        for p in pid:
            kill(p)

    def observe(method: str, path: str) -> None:
        nonlocal matches
        if fired.is_set():
            return
        seen.append((method, path))
        if point.request and method == point.request[0] and fnmatch.fnmatchcase(path, point.request[1]):
            matches += 1
            if matches == point.nth:
                fire()  # on the server's loop: the client dies before it can read the answer

    hub.observe(observe)
    proc = cli.start(argv, log)
    pid.append(proc.pid)
    deadline = time.monotonic() + 240
    try:
        while proc.is_alive() and time.monotonic() < deadline:
            if fired.is_set():
                kill(proc.pid)  # in case it fired before the pid was known
            elif point.work_file and any(work.glob(point.work_file)):
                fire()
            time.sleep(0.001)
    finally:
        hub.observe(None)
        if proc.is_alive():
            proc.kill()
        proc.join()
    assert proc.exitcode == -signal.SIGKILL, f"{point.id} was never reached:\n{log.read_text()[-3000:]}"
    return seen


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.id for p in KILL_POINTS])
def test_sigkill_then_rerun_ends_like_a_clean_publish(
    point: KillPoint,
    hub: LocalHub,
    timm_run_dir: Path,
    cli_processes: CliProcesses,
    clean_release: object,
    isolated_tmpdir: Path,
    tmp_path: Path,
) -> None:
    clean = clean_release(verify=False)  # type: ignore[operator]
    argv = publish_argv(timm_run_dir, hub.endpoint, hub.token, verify=False)
    seen = _kill_at(point, hub, cli_processes, argv, isolated_tmpdir, tmp_path / "killed.log")
    if point.not_yet:
        assert not any(fnmatch.fnmatchcase(path, point.not_yet) for _, path in seen), (point.id, seen)
    time.sleep(0.3)  # a request the client died in may still be finishing on the server

    at_kill = repo_state(hub.endpoint, hub.token, RELEASE_REPO)
    assert incomplete_branches(at_kill, clean) == [], f"half-made revision visible after {point.id}"

    code, output = cli_processes.run(argv, tmp_path / "rerun.log")
    assert code == 0, output[-3000:]
    final = repo_state(hub.endpoint, hub.token, RELEASE_REPO)
    assert final == clean, f"after {point.id} + re-run the repo differs from a clean publish"
    report_figures(
        {
            "test": "kill",
            "point": point.id,
            "phase": point.phase,
            "requests_before_kill": len(seen),
            "last_request": " ".join(seen[-1]) if seen else None,
            "branches_at_kill": sorted(at_kill.branches) if at_kill else [],
        }
    )
