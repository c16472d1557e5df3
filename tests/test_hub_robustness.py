"""The local hub under bad input, missing tokens, tampered uploads, concurrency, killed clients and
injected faults. Client behaviour goes through huggingface_hub; raw httpx2 only for malformed requests."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubkit.errors import InputError
from hubkit.hub import FaultSpec, LocalHub
from hubkit.hub.lfs import CHUNK_SIZE

AUTH = {"authorization": "Bearer hubkit-test-token-123"}


def ndjson(*lines: dict) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


HEADER = {"key": "header", "value": {"summary": "s", "description": ""}}


def file_line(path: str, content: bytes) -> dict:
    return {
        "key": "file",
        "value": {"content": base64.b64encode(content).decode(), "path": path, "encoding": "base64"},
    }


BAD_REQUESTS = [
    # (method, path, body, extra headers, status, X-Error-Code)
    ("GET", "/api/models/a..b/x", None, {}, 400, "InvalidRepoId"),
    ("GET", "/api/models/localuser/x--y", None, {}, 400, "InvalidRepoId"),
    ("GET", "/{repo}/resolve/main/%2E%2E/%2E%2E/etc/passwd", None, {}, 400, "InvalidPath"),
    ("GET", "/{repo}/resolve/main/a%00b", None, {}, 400, "InvalidPath"),
    ("GET", "/{repo}/resolve/main/..%5Cx", None, {}, 422, "InvalidPath"),  # a backslash is ordinary but here
    ("GET", "/{repo}/resolve/main/%2Fetc%2Fpasswd", None, {}, 400, "InvalidPath"),
    ("GET", "/{repo}/resolve/a..b/x", None, {}, 400, "InvalidRevision"),
    ("GET", "/api/models/{repo}/tree/main/nodir", None, {}, 404, "EntryNotFound"),
    ("GET", "/api/models/{repo}/revision/nope", None, {}, 404, "RevisionNotFound"),
    ("GET", "/api/models/localuser/missing", None, {}, 404, "RepoNotFound"),
    ("GET", "/api/nothing-here", None, {}, 404, "NotFound"),
    ("PUT", "/api/whoami-v2", None, {}, 405, "MethodNotAllowed"),
    ("POST", "/api/repos/create", b"{not json", AUTH, 400, "InvalidJson"),
    ("POST", "/api/repos/create", json.dumps({"name": "../x"}).encode(), AUTH, 400, "InvalidRepoId"),
    ("POST", "/api/repos/create", b'{"name": "' + b"x" * 2_000_000 + b'"}', AUTH, 413, "PayloadTooLarge"),
    ("POST", "/api/repos/create", json.dumps({"name": "x"}).encode(), {}, 401, "Unauthorized"),
    (
        "POST",
        "/api/repos/create",
        json.dumps({"name": "x"}).encode(),
        {"authorization": "Bearer wrong"},
        401,
        "Unauthorized",
    ),
    ("POST", "/api/models/{repo}/commit/main", ndjson(HEADER), {}, 401, "Unauthorized"),
    ("POST", "/api/models/{repo}/commit/main", b"garbage\n", AUTH, 400, "InvalidCommitBody"),
    ("POST", "/api/models/{repo}/commit/main", b"", AUTH, 400, "InvalidCommitBody"),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        ndjson(file_line("a.txt", b"x")),
        AUTH,
        400,
        "InvalidCommitBody",
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        ndjson(HEADER, file_line("../x", b"x")),
        AUTH,
        400,
        "InvalidPath",
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        ndjson(HEADER, file_line("/abs", b"x")),
        AUTH,
        400,
        "InvalidPath",
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        ndjson(HEADER, file_line("..\\b", b"x")),
        AUTH,
        422,
        "InvalidPath",
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        ndjson(HEADER) + b'{"key": "file", "value": {"content": "!!!", "path": "a"}}\n',
        AUTH,
        400,
        "InvalidCommitBody",
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        ndjson(HEADER, {"key": "lfsFile", "value": {"path": "w", "algo": "sha256", "oid": "0" * 64}}),
        AUTH,
        400,
        "LfsObjectNotFound",
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        ndjson(HEADER, {"key": "deletedFile", "value": {"path": "nope"}}),
        AUTH,
        404,
        "EntryNotFound",
    ),
    (
        "POST",
        "/api/models/{repo}/commit/main",
        ndjson(HEADER, {"key": "copyFile", "value": {}}),
        AUTH,
        400,
        "InvalidCommitBody",
    ),
    ("POST", "/api/models/{repo}/commit/nope", ndjson(HEADER), AUTH, 404, "RevisionNotFound"),
    ("POST", "/api/models/{repo}/commit/main", b"x" * (2 * 1024 * 1024), AUTH, 413, "PayloadTooLarge"),
    ("POST", "/api/models/{repo}/preupload/main", b'{"files": "x"}', AUTH, 400, "InvalidPreupload"),
    ("POST", "/api/models/{repo}/branch/a..b", b"{}", AUTH, 400, "InvalidRevision"),
    ("DELETE", "/api/models/{repo}/branch/main", None, AUTH, 403, "CannotDeleteDefaultBranch"),
    (
        "POST",
        "/{repo}.git/info/lfs/objects/batch",
        b'{"operation": "download"}',
        AUTH,
        400,
        "InvalidLfsBatch",
    ),
    ("PUT", "/_lfs/" + "0" * 64 + "/part/1?size=5", b"hello", {}, 401, "InvalidSignature"),
    ("POST", "/_lfs/" + "0" * 64 + "/complete?size=5&token=forged", b"{}", {}, 401, "InvalidSignature"),
    ("PUT", "/_lfs/not-a-sha/part/1", b"x", {}, 400, "InvalidOid"),
    ("GET", "/api/models/{repo}/xet-read-token/nope", None, AUTH, 404, "RevisionNotFound"),
    ("GET", "/api/models/{repo}/xet-write-token/main", None, {}, 401, "Unauthorized"),
    ("POST", "/_xet/v1/xorbs/default/" + "0" * 64, b"x", {}, 401, "Unauthorized"),
    ("POST", "/_xet/v1/shards", b"x", {"Authorization": "Bearer xet1.forged.sig"}, 401, "Unauthorized"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "code"), BAD_REQUESTS)
def test_bad_input_gets_status_and_code(
    hub: LocalHub,
    hub_repo: str,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict,
    status: int,
    code: str,
) -> None:
    url = hub.endpoint + path.replace("{repo}", hub_repo)
    response = httpx2.request(method, url, content=body, headers=headers)
    assert (response.status_code, response.headers.get("x-error-code")) == (status, code), response.text


def test_writes_without_token_are_refused(hub: LocalHub, hub_repo: str) -> None:
    anonymous = HfApi(endpoint=hub.endpoint, token=False)
    with pytest.raises(HfHubHTTPError) as err:
        anonymous.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=hub_repo)
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError):
        anonymous.create_branch(hub_repo, branch="b")
    with pytest.raises(HfHubHTTPError):
        HfApi(endpoint=hub.endpoint, token="wrong").whoami()
    assert "x.txt" not in anonymous.list_repo_files(hub_repo)  # reads stay open


def _lfs_upload(hub: LocalHub, repo: str, declared: bytes, sent: bytes) -> httpx2.Response:
    oid = hashlib.sha256(declared).hexdigest()
    batch = httpx2.post(
        f"{hub.endpoint}/{repo}.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": oid, "size": len(declared)}],
        },
        headers={**AUTH, "content-type": "application/vnd.git-lfs+json"},
    )
    upload = batch.json()["objects"][0]["actions"]["upload"]
    parts = sorted(k for k in upload["header"] if k.isdigit())
    etags = []
    for i, key in enumerate(parts):
        r = httpx2.put(upload["header"][key], content=sent[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE])
        assert r.status_code == 200 and r.headers["etag"]
        etags.append({"partNumber": i + 1, "etag": r.headers["etag"]})
    return httpx2.post(upload["href"], json={"oid": oid, "parts": etags})


def test_lfs_sha_mismatch_is_refused(hub: LocalHub, hub_repo: str) -> None:
    declared = os.urandom(1000)
    response = _lfs_upload(hub, hub_repo, declared, os.urandom(1000))
    assert (response.status_code, response.headers["x-error-code"]) == (400, "LfsChecksumMismatch")
    oid = hashlib.sha256(declared).hexdigest()
    assert not (hub.data_dir / "objects" / oid[:2] / oid[2:]).exists()
    verify = httpx2.post(f"{hub.endpoint}/_lfs/{oid}/verify", json={"oid": oid, "size": 1000}, headers=AUTH)
    assert verify.status_code == 404
    commit = ndjson(
        HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": 1000}}
    )
    r = httpx2.post(f"{hub.endpoint}/api/models/{hub_repo}/commit/main", content=commit, headers=AUTH)
    assert r.status_code == 400
    # The honest upload of the same object then works.
    assert _lfs_upload(hub, hub_repo, declared, declared).status_code == 200


def test_commits_to_different_branches_at_once_both_succeed(hub_api: HfApi, hub_repo: str) -> None:
    for b in ("a", "b"):
        hub_api.create_branch(hub_repo, branch=b)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def push(branch: str) -> None:
        barrier.wait()
        try:
            for i in range(3):
                ops = [CommitOperationAdd(f"{branch}{i}.txt", os.urandom(2000))]
                hub_api.create_commit(
                    hub_repo, operations=ops, commit_message=f"{branch}{i}", revision=branch
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(b,)) for b in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for b in ("a", "b"):
        assert len(hub_api.list_repo_commits(hub_repo, revision=b)) == 4


def test_racing_commits_with_parent_exactly_one_wins(hub_api: HfApi, hub_repo: str) -> None:
    head = hub_api.model_info(hub_repo).sha
    barrier = threading.Barrier(4)
    results: list[str] = []

    def push(i: int) -> None:
        ops = [CommitOperationAdd("race.txt", f"writer {i}".encode())]
        barrier.wait()
        try:
            hub_api.create_commit(hub_repo, operations=ops, commit_message=f"w{i}", parent_commit=head)
            results.append("ok")
        except HfHubHTTPError as exc:
            results.append(str(exc.response.status_code))

    threads = [threading.Thread(target=push, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["412", "412", "412", "ok"]
    assert len(hub_api.list_repo_commits(hub_repo)) == 2


KILLED_CLIENT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from huggingface_hub import HfApi
    from hubkit.hub.client import hub_api, streaming_add
    endpoint, token, repo, path, route = sys.argv[1:]
    if route == "streaming":
        hub_api(endpoint, token).create_commit(repo, operations=[streaming_add("big.safetensors", Path(path))],
                                               commit_message="big")
    else:
        HfApi(endpoint=endpoint, token=token).upload_file(path_or_fileobj=path, path_in_repo="big.safetensors",
                                                          repo_id=repo, commit_message="big")
    print("DONE")
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("route", ["plain", "streaming"])
def test_client_killed_mid_upload_leaves_nothing_and_rerun_completes(
    hub: LocalHub, hub_api: HfApi, hub_repo: str, tmp_path: Path, route: str
) -> None:
    big = tmp_path / "big.safetensors"
    big.write_bytes(os.urandom(120 * 1024 * 1024))
    script = tmp_path / "client.py"
    script.write_text(KILLED_CLIENT)
    args = [sys.executable, str(script), hub.endpoint, hub.token or "", hub_repo, str(big), route]
    before = hub_api.model_info(hub_repo).sha
    # The plain client sends through Xet (xorb bodies land in xet/tmp), hubkit's through LFS (tmp).
    tmp_dirs = [hub.data_dir / "tmp", hub.data_dir / "xet" / "tmp"]
    # Throttle the server so the kill lands mid-body, whatever the machine's speed.
    hub.set_faults("rate=1,kinds=slow,delay=0.3,paths=/_lfs/*+/_xet/*")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        p.stat().st_size > 0 for d in tmp_dirs if d.is_dir() for p in d.iterdir()
    ):
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)  # the server has started writing the body: we are mid-upload
    proc.wait()
    hub.set_faults(None)
    assert hub_api.model_info(hub_repo).sha == before
    assert "big.safetensors" not in hub_api.list_repo_files(hub_repo)
    time.sleep(0.5)  # let the server notice the disconnect and drop its temp file
    if route == "plain":
        assert [p for d in tmp_dirs for p in d.iterdir()] == []
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    path = hf_hub_download(hub_repo, "big.safetensors", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert os.path.getsize(path) == big.stat().st_size
    assert hub_api.model_info(hub_repo, files_metadata=True).siblings is not None


def test_fault_spec_parsing() -> None:
    spec = FaultSpec.parse(
        "rate=0.2,seed=7,kinds=500+503+429+drop+slow,paths=/api/*+/_lfs/*,methods=post,max=3"
    )
    assert spec.rate == 0.2 and spec.seed == 7 and spec.max_faults == 3
    assert spec.paths == ("/api/*", "/_lfs/*") and spec.methods == ("POST",)
    assert spec.matches("POST", "/api/models/u/r/commit/main") and not spec.matches("GET", "/api/x")
    for bad in ("rate=2", "kinds=teapot", "bogus=1", "rate"):
        with pytest.raises(InputError):
            FaultSpec.parse(bad)


def test_injected_faults_are_retried_and_commits_apply_once(
    hub: LocalHub, hub_api: HfApi, hub_repo: str, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    # Every commit POST of the pipeline is cut twice before it is applied; the client retries.
    hub.set_faults("rate=1,kinds=drop+503,max=2,methods=POST,paths=/api/models/*/commit/*")
    hub_api.upload_folder(repo_id=hub_repo, folder_path=folder, commit_message="retried")
    assert [k for k, _, _ in hub.injected_faults] and len(hub.injected_faults) == 2
    assert [c.title for c in hub_api.list_repo_commits(hub_repo)] == ["retried", "initial commit"]
    # A download cut in the middle of its body is retried or resumed by the client and ends up complete.
    data = os.urandom(12 * 1024 * 1024)
    hub.set_faults(None)
    hub_api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=hub_repo)
    # (hf_xet downloads Xet-stored files from the CAS's fetch URLs, other clients GET /resolve.)
    hub.set_faults("rate=1,kinds=drop,max=1,methods=GET,paths=*/resolve/*+/_xet/*/v1/fetch/*")
    path = hf_hub_download(hub_repo, "w.bin", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == data
    assert len(hub.injected_faults) == 1


def test_tamper_changes_served_bytes_only(
    hub: LocalHub, hub_api: HfApi, hub_repo: str, tmp_path: Path
) -> None:
    hub_api.upload_file(path_or_fileobj=b"original", path_in_repo="m.txt", repo_id=hub_repo)
    info_before = hub_api.get_paths_info(hub_repo, ["m.txt"])[0]
    hub.tamper(hub_repo, "main", "m.txt", b"tampered")
    assert hub_api.get_paths_info(hub_repo, ["m.txt"])[0].blob_id == info_before.blob_id
    path = hf_hub_download(hub_repo, "m.txt", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == b"tampered"


# --- fuzzing: whatever the path or commit body, never a 5xx ---------------------------------------
_segment = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12).map(
    lambda s: "".join(c if c.isalnum() or c in "-_." else f"%{ord(c) % 256:02X}" for c in s)
)
_known = st.sampled_from(
    [
        "api",
        "models",
        "datasets",
        "localuser",
        "repo",
        "resolve",
        "main",
        "tree",
        "refs",
        "commit",
        "preupload",
        "branch",
        "tag",
        "revision",
        "paths-info",
        "commits",
        "_lfs",
        "part",
        "..",
        "%2E%2E",
        "%2F",
        "%00",
        "info",
        "lfs",
        "objects",
        "batch",
        "repo.git",
        "%5C",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE"]),
    segments=st.lists(st.one_of(_known, _segment), min_size=1, max_size=8),
    body=st.one_of(
        st.none(), st.binary(max_size=300), st.sampled_from([b"{}", b"[]", b'{"files": [{}]}', b"null"])
    ),
)
def test_fuzz_paths_never_500(hub: LocalHub, method: str, segments: list[str], body: bytes | None) -> None:
    url = hub.endpoint + "/" + "/".join(segments)
    r = httpx2.request(method, url, content=body, headers=AUTH)
    assert r.status_code < 500, (method, url, r.status_code, r.text)


_line = st.one_of(
    st.just(HEADER),
    st.builds(lambda p, c: file_line(p, c), st.text(max_size=10), st.binary(max_size=50)),
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(["file", "lfsFile", "deletedFile", "deletedFolder", "header", "x"]),
            "value": st.dictionaries(
                st.sampled_from(["path", "content", "oid", "size", "summary", "encoding", "parentCommit"]),
                st.one_of(st.text(max_size=8), st.integers(), st.none()),
                max_size=4,
            ),
        }
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, max_size=5), junk=st.binary(max_size=40))
def test_fuzz_commit_bodies_never_500(hub: LocalHub, lines: list[dict], junk: bytes) -> None:
    repo = "localuser/fuzz"
    httpx2.post(f"{hub.endpoint}/api/repos/create", json={"name": "fuzz"}, headers=AUTH)
    for body in (ndjson(*lines), ndjson(*lines) + junk):
        r = httpx2.post(f"{hub.endpoint}/api/models/{repo}/commit/main", content=body, headers=AUTH)
        assert r.status_code < 500, (body[:300], r.status_code, r.text)
    assert httpx2.get(f"{hub.endpoint}/api/models/{repo}").status_code == 200
