"""The local hub through the unmodified huggingface_hub client: the publishing sequence and the
read/write API around it (revisions, refs, commits, downloads, persistence, hubkit's streaming route)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hubkit.errors import HubError
from hubkit.hub import LocalHub
from hubkit.hub.client import hub_api as make_hub_api
from hubkit.hub.client import streaming_add

README = "---\nlicense: mit\nlibrary_name: timm\ntags:\n- image-classification\n---\n# Tiny model\n"


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture
def release_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "README.md").write_text(README)
    (folder / "model.safetensors").write_bytes(os.urandom(20 * 1024 * 1024))
    return folder


def test_publishing_sequence(hub: LocalHub, hub_api: HfApi, release_dir: Path, tmp_path: Path) -> None:
    repo = "localuser/tiny-model"
    assert hub_api.whoami()["name"] == "localuser"
    url = hub_api.create_repo(repo)
    assert url == f"{hub.endpoint}/{repo}"
    assert hub_api.create_repo(repo, exist_ok=True) == url
    with pytest.raises(HfHubHTTPError):
        hub_api.create_repo(repo)

    main_commit = hub_api.upload_folder(repo_id=repo, folder_path=release_dir, commit_message="weights").oid
    hub_api.create_branch(repo, branch="epoch-010")
    hub_api.create_branch(repo, branch="epoch-010", exist_ok=True)
    epoch_weights = tmp_path / "epoch.safetensors"
    epoch_weights.write_bytes(os.urandom(20 * 1024 * 1024))
    hub_api.upload_file(
        path_or_fileobj=epoch_weights, path_in_repo="model.safetensors", repo_id=repo, revision="epoch-010"
    )
    hub_api.create_tag(repo, tag="v1")
    hub_api.create_tag(repo, tag="v1", exist_ok=True)

    refs = hub_api.list_repo_refs(repo)
    assert {b.name for b in refs.branches} == {"main", "epoch-010"}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", main_commit)]

    path = hf_hub_download(
        repo, "model.safetensors", revision="epoch-010", endpoint=hub.endpoint, cache_dir=tmp_path / "c1"
    )
    assert sha256_file(path) == sha256_file(epoch_weights)

    snap = Path(snapshot_download(repo, revision="v1", endpoint=hub.endpoint, cache_dir=tmp_path / "c2"))
    assert sorted(p.name for p in snap.iterdir()) == [".gitattributes", "README.md", "model.safetensors"]
    assert sha256_file(snap / "model.safetensors") == sha256_file(release_dir / "model.safetensors")
    assert snap.name == main_commit

    assert [c.title for c in hub_api.list_repo_commits(repo)] == ["weights", "initial commit"]
    assert len(hub_api.list_repo_commits(repo, revision="epoch-010")) == 3

    info = hub_api.model_info(repo, revision="v1", files_metadata=True)
    assert info.sha == main_commit
    assert info.card_data is not None and info.card_data.license == "mit"
    lfs = {s.rfilename: s.lfs for s in info.siblings or []}
    assert lfs["README.md"] is None
    assert lfs["model.safetensors"] is not None
    assert lfs["model.safetensors"].sha256 == sha256_file(release_dir / "model.safetensors")
    assert info.last_modified is not None


def test_download_at_commit_sha_and_range(
    hub: LocalHub, hub_api: HfApi, hub_repo: str, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024)
    sha = hub_api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=hub_repo).oid
    path = hf_hub_download(hub_repo, "w.bin", revision=sha, endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == data
    r = httpx2.get(f"{hub.endpoint}/{hub_repo}/resolve/{sha}/w.bin", headers={"Range": "bytes=100-"})
    assert r.status_code == 206 and r.content == data[100:]
    head = httpx2.head(f"{hub.endpoint}/{hub_repo}/resolve/main/w.bin")
    assert head.headers["x-repo-commit"] == sha
    assert head.headers["x-linked-etag"].strip('"') == hashlib.sha256(data).hexdigest()
    assert int(head.headers["x-linked-size"]) == len(data)
    # Sent through Xet (the default): the HEAD names its Xet file hash so hf_xet can reconstruct it.
    assert ("x-xet-hash" in head.headers) == hub.xet


def test_revisions_with_slashes(hub: LocalHub, hub_api: HfApi, hub_repo: str, tmp_path: Path) -> None:
    hub_api.create_branch(hub_repo, branch="feat/x")
    hub_api.upload_file(
        path_or_fileobj=b"sub", path_in_repo="sub/dir/s.txt", repo_id=hub_repo, revision="feat/x"
    )
    hub_api.create_tag(hub_repo, tag="release/v1", revision="feat/x")
    path = hf_hub_download(
        hub_repo, "sub/dir/s.txt", revision="release/v1", endpoint=hub.endpoint, cache_dir=tmp_path / "c"
    )
    assert Path(path).read_bytes() == b"sub"
    assert "sub/dir/s.txt" in hub_api.list_repo_files(hub_repo, revision="feat/x")
    assert "sub/dir/s.txt" not in hub_api.list_repo_files(hub_repo)
    entries = list(hub_api.list_repo_tree(hub_repo, path_in_repo="sub/dir", revision="feat/x"))
    assert [e.path for e in entries] == ["sub/dir/s.txt"]
    hub_api.delete_tag(hub_repo, tag="release/v1")
    hub_api.delete_branch(hub_repo, branch="feat/x")
    assert {b.name for b in hub_api.list_repo_refs(hub_repo).branches} == {"main"}


def test_tree_paths_info_and_pagination(hub: LocalHub, hub_api: HfApi, hub_repo: str) -> None:
    ops = [CommitOperationAdd(f"d/f{i:02d}.txt", f"{i}".encode()) for i in range(25)]
    hub_api.create_commit(hub_repo, operations=ops, commit_message="many")
    files = hub_api.list_repo_files(hub_repo)
    assert len(files) == 26
    top = list(hub_api.list_repo_tree(hub_repo))
    assert sorted((e.path, type(e).__name__) for e in top) == [
        (".gitattributes", "RepoFile"),
        ("d", "RepoFolder"),
    ]
    infos = hub_api.get_paths_info(hub_repo, ["d/f01.txt", "d", "missing.txt"])
    assert sorted(i.path for i in infos) == ["d", "d/f01.txt"]
    expanded = list(hub_api.list_repo_tree(hub_repo, path_in_repo="d", expand=True))
    assert all(e.last_commit is not None and e.last_commit.title == "many" for e in expanded)


def test_tree_pagination_follows_link(tmp_path: Path) -> None:
    from hubkit.hub.app import HubConfig

    with LocalHub(tmp_path / "data", token="t") as hub:
        hub._app.state.config = HubConfig(token="t", tree_page_size=7, commits_page_size=2)
        api = HfApi(endpoint=hub.endpoint, token="t")
        api.create_repo("localuser/p")
        ops = [CommitOperationAdd(f"f{i:02d}.txt", b"x%d" % i) for i in range(20)]
        api.create_commit("localuser/p", operations=ops, commit_message="c1")
        api.create_commit("localuser/p", operations=[CommitOperationDelete("f00.txt")], commit_message="c2")
        assert len(api.list_repo_files("localuser/p")) == 20
        assert [c.title for c in api.list_repo_commits("localuser/p")] == ["c2", "c1", "initial commit"]


def test_parent_commit_and_deletes(hub_api: HfApi, hub_repo: str) -> None:
    first = hub_api.upload_file(path_or_fileobj=b"a", path_in_repo="a.txt", repo_id=hub_repo).oid
    hub_api.upload_file(path_or_fileobj=b"b", path_in_repo="dir/b.txt", repo_id=hub_repo, parent_commit=first)
    head = hub_api.model_info(hub_repo).sha
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.upload_file(path_or_fileobj=b"c", path_in_repo="c.txt", repo_id=hub_repo, parent_commit=first)
    assert err.value.response.status_code == 412
    assert hub_api.model_info(hub_repo).sha == head  # branch untouched
    hub_api.delete_folder("dir", repo_id=hub_repo)
    hub_api.delete_file("a.txt", repo_id=hub_repo)
    assert hub_api.list_repo_files(hub_repo) == [".gitattributes"]
    with pytest.raises(EntryNotFoundError):
        hub_api.delete_file("a.txt", repo_id=hub_repo)


def test_noop_upload_makes_no_commit(hub_api: HfApi, hub_repo: str) -> None:
    hub_api.upload_file(path_or_fileobj=b"same", path_in_repo="s.txt", repo_id=hub_repo)
    before = hub_api.list_repo_commits(hub_repo)
    hub_api.upload_file(path_or_fileobj=b"same", path_in_repo="s.txt", repo_id=hub_repo)
    assert [c.commit_id for c in hub_api.list_repo_commits(hub_repo)] == [c.commit_id for c in before]


def test_errors_map_to_client_exceptions(
    hub: LocalHub, hub_api: HfApi, hub_repo: str, tmp_path: Path
) -> None:
    with pytest.raises(RepositoryNotFoundError):
        hub_api.model_info("localuser/nope")
    with pytest.raises(RevisionNotFoundError):
        hub_api.model_info(hub_repo, revision="nope")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(hub_repo, "nope.txt", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert not hub_api.repo_exists("localuser/nope")
    assert not hub_api.revision_exists(hub_repo, "nope")
    assert hub_api.file_exists(hub_repo, ".gitattributes")


def test_private_repo_and_delete_repo(hub: LocalHub, hub_api: HfApi) -> None:
    hub_api.create_repo("localuser/secret", private=True)
    assert hub_api.model_info("localuser/secret").private
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.endpoint, token=False).model_info("localuser/secret")
    hub_api.create_repo("localuser/data", repo_type="dataset")
    hub_api.upload_file(
        path_or_fileobj=b"x", path_in_repo="x.csv", repo_id="localuser/data", repo_type="dataset"
    )
    assert "x.csv" in hub_api.list_repo_files("localuser/data", repo_type="dataset")
    hub_api.delete_repo("localuser/secret")
    assert not hub_api.repo_exists("localuser/secret")
    hub_api.delete_repo("localuser/secret", missing_ok=True)


def test_state_survives_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalHub(data, token="t") as hub:
        api = HfApi(endpoint=hub.endpoint, token="t")
        api.create_repo("localuser/keep")
        sha = api.upload_file(path_or_fileobj=b"kept", path_in_repo="k.txt", repo_id="localuser/keep").oid
        api.create_tag("localuser/keep", tag="v1")
    with LocalHub(data, token="t") as hub:
        api = HfApi(endpoint=hub.endpoint, token="t")
        assert api.model_info("localuser/keep", revision="v1").sha == sha
        path = hf_hub_download("localuser/keep", "k.txt", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
        assert Path(path).read_bytes() == b"kept"


def test_hubkit_streaming_route_uses_lfs(hub: LocalHub, tmp_path: Path) -> None:
    api = make_hub_api(hub.endpoint, hub.token)
    api.create_repo("localuser/stream")
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(os.urandom(18 * 1024 * 1024 + 3))  # two 16 MiB parts
    (tmp_path / "README.md").write_text(README)
    api.create_commit(
        "localuser/stream",
        operations=[
            streaming_add("model.safetensors", weights),
            streaming_add("README.md", tmp_path / "README.md"),
        ],
        commit_message="stream",
    )
    assert list((hub.data_dir / "tmp").iterdir()) == []  # multipart session adopted, nothing left over
    info = api.model_info("localuser/stream", files_metadata=True)
    lfs = {s.rfilename: s.lfs for s in info.siblings or []}
    assert lfs["model.safetensors"] is not None and lfs["model.safetensors"].sha256 == sha256_file(weights)
    assert info.card_data is not None and info.card_data.library_name == "timm"
    # Re-uploading the same object: the batch omits actions, and upload_folder/upload_file work too.
    folder = tmp_path / "f"
    folder.mkdir()
    os.link(weights, folder / "again.safetensors")
    api.upload_folder(repo_id="localuser/stream", folder_path=folder)
    api.upload_file(path_or_fileobj=str(weights), path_in_repo="copy.bin", repo_id="localuser/stream")
    assert set(api.list_repo_files("localuser/stream")) >= {
        "again.safetensors",
        "copy.bin",
        "model.safetensors",
    }
    path = hf_hub_download("localuser/stream", "copy.bin", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert sha256_file(path) == sha256_file(weights)


def test_streaming_add_with_known_sha256(hub: LocalHub, tmp_path: Path) -> None:
    api = make_hub_api(hub.endpoint, hub.token)
    api.create_repo("localuser/known")
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(os.urandom(17 * 1024 * 1024))
    sha, size = sha256_file(weights), weights.stat().st_size
    op = streaming_add("model.safetensors", weights, sha256=sha, size=size)
    assert op.upload_info.sha256.hex() == sha and op.upload_info.sample == weights.read_bytes()[:512]
    api.create_commit("localuser/known", operations=[op], commit_message="known hash")
    info = api.model_info("localuser/known", files_metadata=True)
    assert {s.rfilename: s.lfs.sha256 for s in info.siblings or [] if s.lfs} == {"model.safetensors": sha}
    # A stale size is refused before any request; a wrong hash is refused by the hub (nothing stored).
    with pytest.raises(ValueError, match="were hashed"):
        streaming_add("model.safetensors", weights, sha256=sha, size=size - 1)
    other = tmp_path / "o.safetensors"
    other.write_bytes(os.urandom(size))
    wrong = streaming_add("other.safetensors", other, sha256="ab" * 32, size=size)
    # Through Xet (the default) the shard's declared sha256 fails the hub's check of the reconstructed
    # content; through LFS (HUBKIT_XET=0) the object's does. Either way the hub refuses it.
    with pytest.raises((RuntimeError, HubError)) as refused:
        api.create_commit("localuser/known", operations=[wrong], commit_message="wrong hash")
    if isinstance(refused.value, HubError):
        assert "refused" in str(refused.value) and "400" in str(refused.value)
    else:
        assert isinstance(refused.value.__cause__, HfHubHTTPError) and "refused" in str(
            refused.value.__cause__
        )
    assert api.list_repo_files("localuser/known") == [".gitattributes", "model.safetensors"]
