"""The local hub under crashes and hostile requests: the store stays consistent, refusals change nothing.

* The server process is SIGKILLed while ``hubkit publish`` commits (the moment a new commit file lands in
  its data dir, before or just after ``refs.json`` moves). After the crash no ref dangles and no partial
  object exists; the server restarts on the same port, and the publish (resumed by its retries, or re-run)
  ends identical to a clean publish.
* Gaps left by ``tests/test_hub_robustness.py`` (which checks status codes and error codes): every refused
  request leaves the data dir byte-for-byte unchanged, a repeated commit POST with deletes is answered
  with the commit it made, and a fuzzed stream of commit bodies never changes the store unless it is 200.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import time
from pathlib import Path

import httpx2
import pytest
from fixtures_reliability import (
    RELEASE_REPO,
    CliProcesses,
    fresh_env,
    incomplete_branches,
    publish_argv,
    repo_state,
    report_figures,
    store_fingerprint,
    store_problems,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubkit.hub import LocalHub, LocalHubProcess

TOKEN = "server-crash-token-5678"
AUTH = {"authorization": "Bearer hubkit-test-token-123"}


@pytest.mark.parametrize(
    ("commits", "also_kill_client"),
    [(2, False), (4, True)],
    ids=["staged-commit-server-only", "main-commit-server-and-client"],
)
def test_server_killed_during_a_commit_keeps_the_store_consistent(
    commits: int,
    also_kill_client: bool,
    tmp_path: Path,
    timm_run_dir: Path,
    cli_processes: CliProcesses,
    clean_release: object,
) -> None:
    clean = clean_release(verify=False)  # type: ignore[operator]
    data = tmp_path / "hub"
    env = fresh_env(tmp_path / "client")
    commit_dir = data / "repos" / "models" / RELEASE_REPO / "commits"
    server = LocalHubProcess(data, token=TOKEN).start()
    port = int(server.endpoint.rsplit(":", 1)[1])  # restarted on the same port: the client keeps its URL
    argv = publish_argv(timm_run_dir, server.endpoint, TOKEN, verify=False)
    client = cli_processes.start(argv, tmp_path / "publish.log", env)
    try:
        # Commit files: 1 = the repo's initial commit, 2 = epoch-001's staged commit, 4 = main's commit.
        deadline = time.monotonic() + 120
        while not (commit_dir.is_dir() and len(os.listdir(commit_dir)) >= commits):
            assert client.is_alive() and time.monotonic() < deadline, (tmp_path / "publish.log").read_text()
            time.sleep(0.0005)
        server.kill()
        if also_kill_client:
            client.kill()  # SIGKILL
        assert store_problems(data) == []
        newest = max(commit_dir.iterdir(), key=lambda f: f.stat().st_mtime_ns).stem
        landed = newest in (commit_dir.parent / "refs.json").read_text()  # did the crash beat the ref move?

        server = LocalHubProcess(data, port=port, token=TOKEN).start()
        assert incomplete_branches(repo_state(server.endpoint, TOKEN, RELEASE_REPO), clean) == []
        client.join(180)
        first_exit = client.exitcode
        code, output = cli_processes.run(argv, tmp_path / "rerun.log", env)
        assert code == 0, output[-3000:]
        assert repo_state(server.endpoint, TOKEN, RELEASE_REPO) == clean
        assert store_problems(data) == []
        # Without a client kill the publish resumes once the server is back (its retries span ~15 s), or
        # fails cleanly (exit 6) when the restart took longer; the re-run above completes it either way.
        assert first_exit in ((-signal.SIGKILL,) if also_kill_client else (0, 6))
        report_figures(
            {
                "test": "server-crash",
                "commits_on_disk": commits,
                "ref_moved_before_crash": landed,
                "client_killed": also_kill_client,
                "first_run_exit": first_exit,
            }
        )
    finally:
        if client.is_alive():
            client.kill()
        server.stop()


# --- refusals change nothing --------------------------------------------------------------------------
def _commit_body(*lines: dict) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


HEADER = {"key": "header", "value": {"summary": "s", "description": ""}}


def _file(path: str, content: bytes) -> dict:
    return {"key": "file", "value": {"content": base64.b64encode(content).decode(), "path": path}}


REFUSED = [
    # (method, path, body, headers, status) - each must leave the store untouched
    ("POST", "/api/models/{repo}/commit/main", _commit_body(HEADER, _file("../../escape", b"x")), AUTH, 400),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        _commit_body(HEADER, _file("ok.txt", b"x")) + b"{broken\n",
        AUTH,
        400,
    ),
    ("POST", "/api/models/{repo}/commit/main", _commit_body(HEADER, _file("ok.txt", b"x")), {}, 401),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        _commit_body(HEADER, _file("new.txt", b"n"), {"key": "deletedFile", "value": {"path": "absent"}}),
        AUTH,
        404,
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        _commit_body(
            {"key": "header", "value": {"summary": "s", "parentCommit": "0" * 40}}, _file("n.txt", b"2")
        ),
        AUTH,
        412,
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        _commit_body(HEADER, _file("dir", b"f"), _file("dir/x.txt", b"d")),
        AUTH,
        400,
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        b'{"key": "header", "value": {"summary": "' + b"x" * 3_000_000,
        AUTH,
        413,
    ),
    ("POST", "/api/repos/create", b'{"name": "' + b"y" * 2_000_000 + b'"}', AUTH, 413),
    ("POST", "/api/repos/create", json.dumps({"name": "../../etc"}).encode(), AUTH, 400),
    (
        "POST",
        "/api/repos/create",
        json.dumps({"name": "new-repo"}).encode(),
        {"authorization": "Bearer nope"},
        401,
    ),
    ("DELETE", "/api/models/{repo}/branch/main", None, AUTH, 403),
    ("POST", "/api/models/{repo}/branch/..%2F..%2Fx", b"{}", AUTH, 400),
    ("POST", "/api/models/{repo}/tag/main", json.dumps({"tag": "../t"}).encode(), AUTH, 400),
    ("DELETE", "/api/models/{repo}/tag/missing", None, AUTH, 404),
    ("POST", "/api/models/..%2F..%2Fetc/passwd/commit/main", _commit_body(HEADER), AUTH, 400),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), REFUSED)
def test_refused_requests_leave_the_store_unchanged(
    hub: LocalHub, hub_repo: str, method: str, path: str, body: bytes | None, headers: dict, status: int
) -> None:
    before = store_fingerprint(hub.data_dir)
    r = httpx2.request(method, hub.endpoint + path.replace("{repo}", hub_repo), content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers.get("x-error-code")
    assert store_fingerprint(hub.data_dir) == before
    assert store_problems(hub.data_dir) == []
    time.sleep(0.05)  # an aborted upload's temp file is dropped when its request ends
    assert list((hub.data_dir / "tmp").iterdir()) == []


def test_repeated_commit_with_deletes_returns_the_same_commit(hub: LocalHub, hub_repo: str) -> None:
    """A commit POST whose answer was lost, sent again: the same commit, not a 412 nor a second commit."""
    url = f"{hub.endpoint}/api/models/{hub_repo}/commit/main"
    first = httpx2.post(
        url, content=_commit_body(HEADER, _file("a.txt", b"a"), _file("b.txt", b"b")), headers=AUTH
    )
    parent = first.json()["commitOid"]
    header = {"key": "header", "value": {"summary": "swap", "description": "", "parentCommit": parent}}
    body = _commit_body(header, {"key": "deletedFile", "value": {"path": "a.txt"}}, _file("c.txt", b"c"))
    answers = [httpx2.post(url, content=body, headers=AUTH) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.json()["commitOid"] for a in answers}) == 1
    refs = httpx2.get(f"{hub.endpoint}/api/models/{hub_repo}/commits/main").json()
    assert [c["title"] for c in refs] == ["swap", "s", "initial commit"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    paths=st.lists(
        st.sampled_from(["ok.txt", "../x", "/abs", "a\\b", "d/e.txt", "", ".", "a/../b", "x" * 300]),
        max_size=3,
    ),
    junk=st.binary(max_size=30),
    cut=st.integers(min_value=0, max_value=400),
)
def test_fuzzed_commit_bodies_change_the_store_only_when_accepted(
    hub: LocalHub, hub_repo: str, paths: list[str], junk: bytes, cut: int
) -> None:
    body = _commit_body(HEADER, *[_file(p, p.encode()) for p in paths]) + junk
    body = body[: max(cut, 1)] if cut < len(body) else body
    before = store_fingerprint(hub.data_dir)
    r = httpx2.post(f"{hub.endpoint}/api/models/{hub_repo}/commit/main", content=body, headers=AUTH)
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert store_fingerprint(hub.data_dir) == before, (r.status_code, body[:200])
    assert store_problems(hub.data_dir) == []


def test_lfs_upload_with_wrong_bytes_leaves_the_store_unchanged(hub: LocalHub, hub_repo: str) -> None:
    """The declared sha256 does not match the bytes sent: 400, no object, no temp file, nothing else."""
    declared, sent = os.urandom(3000), os.urandom(3000)
    oid = hashlib.sha256(declared).hexdigest()
    before = store_fingerprint(hub.data_dir)
    batch = httpx2.post(
        f"{hub.endpoint}/{hub_repo}.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": oid, "size": 3000}],
        },
        headers={**AUTH, "content-type": "application/vnd.git-lfs+json"},
    ).raise_for_status()
    upload = batch.json()["objects"][0]["actions"]["upload"]
    part = httpx2.put(upload["header"]["00001"], content=sent).raise_for_status()
    done = httpx2.post(
        upload["href"], json={"oid": oid, "parts": [{"partNumber": 1, "etag": part.headers["etag"]}]}
    )
    assert (done.status_code, done.headers["x-error-code"]) == (400, "LfsChecksumMismatch")
    assert store_fingerprint(hub.data_dir) == before
    assert list((hub.data_dir / "tmp").iterdir()) == []
