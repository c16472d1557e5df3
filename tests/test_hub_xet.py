"""The local hub's Xet CAS with the unmodified client (huggingface_hub 2.4.0 + hf_xet 1.8.0) as the oracle."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.hf_api import RepoFile

from hubkit.hub import LocalHub

TOKEN = "xet-test-token"


@pytest.fixture(scope="module")
def xhub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(tmp_path_factory.mktemp("xet-hub"), token=TOKEN) as server:
        yield server


@pytest.fixture
def api(xhub: LocalHub) -> HfApi:
    return HfApi(endpoint=xhub.endpoint, token=TOKEN)


@pytest.fixture
def repo(api: HfApi) -> str:
    repo_id = f"localuser/xet-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id)
    return repo_id


_CAS_TAG = re.compile(r"^/_xet/[0-9a-f]{16}/")


def _requests(hub: LocalHub) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    # CAS paths without the store's tag (/_xet/<tag>/v1/... -> /_xet/v1/...)
    hub.observe(lambda method, path: seen.append((method, _CAS_TAG.sub("/_xet/", path.split("?")[0]))))
    return seen


def test_upload_file_goes_through_xet_and_downloads_back(
    xhub: LocalHub, api: HfApi, repo: str, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    before = xhub.xet_stats.xorb_bytes_received
    seen = _requests(xhub)
    commit = api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo).oid
    xhub.observe(None)
    paths = [p for _, p in seen]
    assert any(p.startswith("/_xet/v1/xorbs/default/") for p in paths)
    assert "/_xet/v1/shards" in paths
    assert xhub.xet_stats.xorb_bytes_received - before >= len(data)  # random bytes: LZ4 cannot shrink them
    # Stored once, in the CAS only: no plain object with that sha256.
    sha = hashlib.sha256(data).hexdigest()
    assert not (xhub.data_dir / "objects" / sha[:2] / sha[2:]).exists()

    seen = _requests(xhub)
    path = hf_hub_download(repo, "w.bin", revision=commit, endpoint=xhub.endpoint, cache_dir=tmp_path / "c")
    xhub.observe(None)
    assert Path(path).read_bytes() == data
    assert any(p.startswith("/_xet/v1/reconstructions/") for _, p in seen)  # hf_xet reconstructed it
    (entry,) = [e for e in api.list_repo_tree(repo) if isinstance(e, RepoFile) and e.path == "w.bin"]
    assert entry.xet_hash is not None and entry.lfs is not None and entry.lfs.sha256 == sha
    result = api.verify_repo_checksums(repo, revision=commit, cache_dir=tmp_path / "c")
    assert not result.mismatches and result.checked_count >= 1


def test_upload_folder_and_snapshot_download(xhub: LocalHub, api: HfApi, repo: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {
        "model.safetensors": os.urandom(2 * 1024 * 1024),
        "sub/optimizer.bin": os.urandom(1024 * 1024) * 2,  # repeats itself: dedup inside one upload
        "README.md": b"---\nlicense: mit\n---\nhello\n",
    }
    for name, content in files.items():
        (src / name).write_bytes(content)
    api.upload_folder(folder_path=src, repo_id=repo)
    out = snapshot_download(repo, endpoint=xhub.endpoint, token=TOKEN, cache_dir=tmp_path / "c")
    for name, content in files.items():
        assert (Path(out) / name).read_bytes() == content
    tree = {e.path: e for e in api.list_repo_tree(repo, recursive=True) if isinstance(e, RepoFile)}
    assert tree["model.safetensors"].xet_hash and tree["sub/optimizer.bin"].xet_hash
    assert tree["README.md"].xet_hash is None  # small text stays a regular file
    # No-op re-upload: the client sees equal oids and sends no commit.
    before = len(api.list_repo_commits(repo))
    api.upload_folder(folder_path=src, repo_id=repo)
    assert len(api.list_repo_commits(repo)) == before


def test_plain_resolve_reconstructs_with_ranges(api: HfApi, repo: str) -> None:
    data = os.urandom(2 * 1024 * 1024 + 3)
    api.upload_file(path_or_fileobj=data, path_in_repo="w.safetensors", repo_id=repo)
    url = f"{api.endpoint}/{repo}/resolve/main/w.safetensors"
    whole = httpx2.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["x-linked-etag"].strip('"') == hashlib.sha256(data).hexdigest()
    for spec, expected in [
        ("bytes=100-", data[100:]),
        ("bytes=0-0", data[:1]),
        ("bytes=70000-1500000", data[70000:1500001]),
        ("bytes=-10", data[-10:]),
    ]:
        part = httpx2.get(url, headers={"Range": spec})
        assert part.status_code == 206 and part.content == expected, spec
    assert httpx2.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    head = httpx2.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)
    assert head.headers["x-xet-hash"] and 'rel="xet-auth"' in head.headers["link"]


def test_store_survives_restart(tmp_path: Path) -> None:
    data = os.urandom(1024 * 1024 + 5)
    with LocalHub(tmp_path / "data", token=TOKEN) as hub:
        api = HfApi(endpoint=hub.endpoint, token=TOKEN)
        api.create_repo("localuser/keep")
        api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id="localuser/keep")
    with LocalHub(tmp_path / "data", token=TOKEN) as hub:
        path = hf_hub_download("localuser/keep", "w.bin", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
        assert Path(path).read_bytes() == data
        assert httpx2.get(f"{hub.endpoint}/localuser/keep/resolve/main/w.bin").content == data


_UPLOAD_SCRIPT = """
import json, os, sys
from huggingface_hub import HfApi
endpoint, token, repo, path = sys.argv[1:5]
api = HfApi(endpoint=endpoint, token=token)
api.create_repo(repo, exist_ok=True)
api.upload_file(path_or_fileobj=path, path_in_repo=os.path.basename(path), repo_id=repo)
"""


def _upload_in_fresh_client(hub: LocalHub, repo: str, path: Path, home: Path) -> None:
    """Upload with a new process and empty caches: only the server's global dedup can help it."""
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    env.pop("HF_XET_CACHE", None)
    subprocess.run(
        [sys.executable, "-c", _UPLOAD_SCRIPT, hub.endpoint, TOKEN, repo, str(path)],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )


@pytest.mark.slow
def test_second_file_sharing_90_percent_sends_at_most_15_percent(xhub: LocalHub, tmp_path: Path) -> None:
    size = 8 * 1024 * 1024
    first = os.urandom(size)
    second = bytearray(first)
    second[size // 2 : size // 2 + size // 10] = os.urandom(size // 10)  # 10 % changed in the middle
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "epoch1.safetensors").write_bytes(first)
    (tmp_path / "b" / "epoch2.safetensors").write_bytes(bytes(second))
    _upload_in_fresh_client(xhub, "localuser/run-a", tmp_path / "a" / "epoch1.safetensors", tmp_path / "h1")
    before = xhub.xet_stats.xorb_bytes_received
    # Another repo, another client with empty caches: the chunks it shares are found through the CAS.
    _upload_in_fresh_client(xhub, "localuser/run-b", tmp_path / "b" / "epoch2.safetensors", tmp_path / "h2")
    sent = xhub.xet_stats.xorb_bytes_received - before
    assert sent <= 0.15 * size, f"sent {sent} bytes for a {size}-byte file sharing 90 % with a stored one"
    for repo, name, content in [("run-a", "epoch1", first), ("run-b", "epoch2", bytes(second))]:
        url = f"{xhub.endpoint}/localuser/{repo}/resolve/main/{name}.safetensors"
        assert httpx2.get(url).content == content
        path = hf_hub_download(
            f"localuser/{repo}", f"{name}.safetensors", endpoint=xhub.endpoint, cache_dir=tmp_path / "c"
        )
        assert Path(path).read_bytes() == content


def test_preupload_answers(tmp_path: Path) -> None:
    body = json.dumps({"files": [{"path": "w.bin", "size": 11 * 1024 * 1024, "sample": ""}]})
    auth = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    for xet, mode in [(True, "lfs"), (False, "regular")]:
        with LocalHub(tmp_path / f"d{xet}", token=TOKEN, xet=xet) as hub:
            HfApi(endpoint=hub.endpoint, token=TOKEN).create_repo("localuser/p")
            r = httpx2.post(
                f"{hub.endpoint}/api/models/localuser/p/preupload/main", content=body, headers=auth
            )
            assert r.json()["files"][0]["uploadMode"] == mode
            token = httpx2.get(f"{hub.endpoint}/api/models/localuser/p/xet-write-token/main", headers=auth)
            assert token.status_code == (200 if xet else 404)
            if xet:
                assert re.fullmatch(
                    re.escape(f"{hub.endpoint}/_xet/") + "[0-9a-f]{16}", token.headers["x-xet-cas-url"]
                )
                assert token.json()["accessToken"] == token.headers["x-xet-access-token"]


def test_tamper_reaches_xet_stored_files(xhub: LocalHub, api: HfApi, repo: str, tmp_path: Path) -> None:
    # Verification tests tamper with files the default client sent through Xet: every client must then
    # get the tampered bytes, hf_xet included (the hub stops advertising Xet for that content).
    data = os.urandom(1024 * 1024)
    api.upload_file(path_or_fileobj=data, path_in_repo="m.safetensors", repo_id=repo)
    evil = data[:-4] + b"evil"
    xhub.tamper(repo, "main", "m.safetensors", evil)
    path = hf_hub_download(repo, "m.safetensors", endpoint=xhub.endpoint, cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == evil
    assert "x-xet-hash" not in httpx2.head(f"{xhub.endpoint}/{repo}/resolve/main/m.safetensors").headers


def test_hubkit_client_uploads_through_xet_and_reports_dedup(xhub: LocalHub, tmp_path: Path) -> None:
    from hubkit.hub.client import hub_api, streaming_add

    first = os.urandom(6 * 1024 * 1024)
    second = bytearray(first)
    second[3 * 1024 * 1024 : 3 * 1024 * 1024 + 600_000] = os.urandom(600_000)  # ~10 % changed
    (tmp_path / "e1.safetensors").write_bytes(first)
    (tmp_path / "e2.safetensors").write_bytes(bytes(second))
    api = hub_api(xhub.endpoint, TOKEN)
    api.create_repo("localuser/hubkit-xet")
    seen = _requests(xhub)
    for name in ("e1", "e2"):
        before = xhub.xet_stats.xorb_bytes_received
        op = streaming_add(f"{name}.safetensors", tmp_path / f"{name}.safetensors")
        api.create_commit("localuser/hubkit-xet", operations=[op], commit_message=name)
        received = xhub.xet_stats.xorb_bytes_received - before
    xhub.observe(None)
    assert not [p for _, p in seen if p.startswith("/_lfs/") or p.endswith("/objects/batch")]  # Xet only
    assert received <= 0.15 * len(second)
    report = api.transfers[hashlib.sha256(second).hexdigest()]
    assert report.total_bytes == len(second) and report.deduplicated_fraction >= 0.8
    assert report.deduplicated_bytes + report.new_bytes == report.total_bytes
    url = f"{xhub.endpoint}/localuser/hubkit-xet/resolve/main/e2.safetensors"
    assert httpx2.get(url).content == bytes(second)


def test_hubkit_client_falls_back_to_lfs(
    xhub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubkit.hub.client import hub_api, streaming_add

    monkeypatch.setenv("HUBKIT_XET", "0")
    data = os.urandom(2 * 1024 * 1024)
    (tmp_path / "w.safetensors").write_bytes(data)
    api = hub_api(xhub.endpoint, TOKEN)
    api.create_repo("localuser/hubkit-lfs")
    seen = _requests(xhub)
    op = streaming_add("w.safetensors", tmp_path / "w.safetensors")
    api.create_commit("localuser/hubkit-lfs", operations=[op], commit_message="lfs")
    xhub.observe(None)
    assert any(p.startswith("/_lfs/") for _, p in seen) and not any(p.startswith("/_xet/") for _, p in seen)
    assert api.transfers == {}
    assert httpx2.get(f"{xhub.endpoint}/localuser/hubkit-lfs/resolve/main/w.safetensors").content == data


def test_hubkit_upload_ahead_is_not_sent_again_by_its_commit(xhub: LocalHub, tmp_path: Path) -> None:
    from hubkit.hub.client import hub_api, streaming_add

    (tmp_path / "w.safetensors").write_bytes(os.urandom(2 * 1024 * 1024))
    api = hub_api(xhub.endpoint, TOKEN)
    api.create_repo("localuser/ahead-xet")
    seen = _requests(xhub)
    api.preupload_lfs_files(
        "localuser/ahead-xet", additions=[streaming_add("w.safetensors", tmp_path / "w.safetensors")]
    )
    op = streaming_add(
        "w.safetensors", tmp_path / "w.safetensors"
    )  # a new operation, as publish's commit makes
    api.create_commit("localuser/ahead-xet", operations=[op], commit_message="w")
    xhub.observe(None)
    assert [p for _, p in seen].count("/_xet/v1/shards") == 1


def test_a_fresh_hub_on_the_same_port_is_not_fooled_by_the_clients_xet_cache(tmp_path: Path) -> None:
    """hf_xet caches, per CAS URL, which chunks the CAS holds. A hub restarted on the same port with another
    data dir must not meet that cache: the client would skip xorbs the new store lacks (shard refused)."""
    data = os.urandom(2 * 1024 * 1024)
    with LocalHub(tmp_path / "first", token=TOKEN) as first:
        port = first.port
        api = HfApi(endpoint=first.endpoint, token=TOKEN)
        api.create_repo("localuser/same")
        api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id="localuser/same")
    with LocalHub(tmp_path / "second", token=TOKEN, port=port) as second:  # same URL, empty store
        api = HfApi(endpoint=second.endpoint, token=TOKEN)
        api.create_repo("localuser/same")
        api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id="localuser/same")
        url = f"{second.endpoint}/localuser/same/resolve/main/w.bin"
        assert httpx2.get(url).content == data
