"""The local hub answers like huggingface.co where the client or users depend on it (issue 18).

Each test checks one cause listed in docs/local-hub.md ("Parity with the Hub: upstream tests") through
the unmodified ``huggingface_hub`` client over real HTTP.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx2
import pytest
from fixtures_reliability import store_fingerprint
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from hubkit.hub import LocalHub

INVALID_CARD = b"\n---\nmodel-index: foo\n---\n\nA card whose metadata breaks the card schema.\n"


def _siblings(api: HfApi, repo_id: str) -> dict[str, object]:
    info = api.model_info(repo_id, files_metadata=True)
    return {s.rfilename: s.lfs for s in info.siblings or []}


def test_missing_repo_without_namespace_is_repo_not_found(hub_api: HfApi) -> None:
    assert hub_api.repo_exists("repo-that-does-not-exist") is False
    assert hub_api.revision_exists("repo-that-does-not-exist", "main") is False
    assert hub_api.file_exists("repo-that-does-not-exist", "file.txt") is False
    with pytest.raises(RepositoryNotFoundError):
        hub_api.model_info("repo-that-does-not-exist")


def test_every_answer_carries_a_request_id(hub: LocalHub, hub_api: HfApi, hub_repo: str) -> None:
    ok = httpx2.get(f"{hub.endpoint}/api/models/{hub_repo}")
    missing = httpx2.get(f"{hub.endpoint}/api/models/localuser/missing")
    assert ok.status_code == 200 and missing.status_code == 404
    assert ok.headers["x-request-id"] and missing.headers["x-request-id"] != ok.headers["x-request-id"]
    with pytest.raises(RepositoryNotFoundError) as err:
        hub_api.delete_repo("repo-that-does-not-exist")
    assert re.search(r"404 Client Error(.+)\(Request ID: .+\)(.*)Repository Not Found", str(err.value), re.S)


def test_repo_ids_match_case_insensitively(hub_api: HfApi) -> None:
    hub_api.create_repo("localuser/CaSe_Is_ImPoRtAnT")
    hub_api.upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id="localuser/case_is_important")
    hub_api.upload_file(  # an LFS file: through the Xet token route too
        path_or_fileobj=b"weights", path_in_repo="w.safetensors", repo_id="localuser/CASE_is_important"
    )
    info = hub_api.model_info("LOCALUSER/case_IS_important")
    assert info.id == "localuser/CaSe_Is_ImPoRtAnT"  # answers use the stored spelling
    assert {"a.txt", "w.safetensors"} <= {s.rfilename for s in info.siblings or []}
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.create_repo("localuser/case_is_important")
    assert err.value.response.status_code == 409


def test_validate_yaml_checks_model_index_and_warns_on_empty_metadata(hub_api: HfApi, hub_repo: str) -> None:
    before = hub_api.model_info(hub_repo).sha
    with pytest.raises(ValueError, match=r"Invalid metadata in README\.md"):
        hub_api.create_commit(
            hub_repo, [CommitOperationAdd("README.md", INVALID_CARD)], commit_message="bad card"
        )
    assert hub_api.model_info(hub_repo).sha == before
    with pytest.warns(UserWarning, match=r"Warnings while validating metadata in README\.md"):
        hub_api.create_commit(
            hub_repo, [CommitOperationAdd("README.md", b"A card without metadata.")], commit_message="c"
        )


def test_path_rules_follow_the_hub(hub_api: HfApi, hub_repo: str) -> None:
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.upload_file(path_or_fileobj=b"x", path_in_repo="..\\ddd", repo_id=hub_repo)
    assert err.value.response.status_code == 422
    # A backslash elsewhere is an ordinary character in a repo path (the client guards local writes).
    hub_api.upload_file(path_or_fileobj=b"x", path_in_repo="folder/..\\..\\file.txt", repo_id=hub_repo)
    assert "folder/..\\..\\file.txt" in hub_api.list_repo_files(hub_repo)


def test_deleting_a_folder_without_trailing_slash(hub_api: HfApi, hub_repo: str) -> None:
    hub_api.create_commit(
        hub_repo,
        [
            CommitOperationAdd("1/a.txt", b"a"),
            CommitOperationAdd("1/b.txt", b"b"),
            CommitOperationAdd("2", b"c"),
        ],
        commit_message="files",
    )
    hub_api.create_commit(hub_repo, [CommitOperationDelete("1")], commit_message="drop folder 1")
    assert sorted(hub_api.list_repo_files(hub_repo)) == [".gitattributes", "2"]


def test_branches_and_tags_are_separate_namespaces(hub_api: HfApi, hub_repo: str) -> None:
    hub_api.create_tag(hub_repo, tag="v1")
    hub_api.create_branch(hub_repo, branch="v1")
    refs = hub_api.list_repo_refs(hub_repo)
    assert [b.ref for b in refs.branches if b.name == "v1"] == ["refs/heads/v1"]
    assert [t.ref for t in refs.tags] == ["refs/tags/v1"]


def test_create_tag_checks_the_revision_first(hub_api: HfApi, hub_repo: str) -> None:
    with pytest.raises(RevisionNotFoundError):
        hub_api.create_tag(hub_repo, tag="invalid tag", revision="foobar")


def test_error_wording_matches_the_hub(hub_api: HfApi, hub_repo: str) -> None:
    parent = hub_api.model_info(hub_repo).sha
    hub_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=hub_repo)
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.create_commit(
            hub_repo, [CommitOperationAdd("y", b"y")], commit_message="late", parent_commit=parent
        )
    assert err.value.response.status_code == 412
    assert "The branch was updated since you opened this page. Please refresh and try again." in str(
        err.value
    )
    hub_api.create_branch(hub_repo, branch="cool-branch")
    with pytest.raises(HfHubHTTPError, match="Reference refs/heads/cool-branch already exists"):
        hub_api.create_branch(hub_repo, branch="cool-branch")
    with pytest.raises(HfHubHTTPError, match="Invalid rev id"):
        hub_api.delete_branch(hub_repo, branch="no-such-branch")
    with pytest.raises(HfHubHTTPError, match="Cannot delete refs/heads/main"):
        hub_api.delete_branch(hub_repo, branch="main")


def test_lfs_follows_the_repos_gitattributes_and_binary_content(hub_api: HfApi, hub_repo: str) -> None:
    hub_api.upload_file(
        path_or_fileobj=b"*.png filter=lfs diff=lfs merge=lfs -text\n",
        path_in_repo=".gitattributes",
        repo_id=hub_repo,
    )
    hub_api.create_commit(
        hub_repo,
        [
            CommitOperationAdd("image.png", b"image data"),  # small, but *.png is an LFS filter
            CommitOperationAdd("blob.dat", b"\x00\x01binary"),  # binary content goes to LFS
            CommitOperationAdd("notes.txt", b"plain text"),
        ],
        commit_message="mixed",
    )
    lfs = _siblings(hub_api, hub_repo)
    assert lfs["image.png"] is not None and lfs["blob.dat"] is not None
    assert lfs["notes.txt"] is None


def test_preupload_honours_gitignore_of_request_and_repo(
    hub_api: HfApi, hub_repo: str, tmp_path: Path
) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "file.bin").write_bytes(b"n")
    (tmp_path / "top.txt").write_text("t")
    (tmp_path / ".gitignore").write_text("nested/*\n")
    hub_api.upload_folder(folder_path=tmp_path, repo_id=hub_repo)  # the .gitignore in the commit
    assert not hub_api.file_exists(hub_repo, "nested/file.bin")
    assert hub_api.file_exists(hub_repo, "top.txt")
    (tmp_path / ".gitignore").unlink()
    (tmp_path / "other.log").write_text("l")
    hub_api.upload_file(path_or_fileobj=b"*.log\n", path_in_repo=".gitignore", repo_id=hub_repo)
    hub_api.upload_folder(folder_path=tmp_path, repo_id=hub_repo)  # the .gitignore already in the repo
    assert not hub_api.file_exists(hub_repo, "other.log")
    assert hub_api.file_exists(hub_repo, "nested/file.bin")  # the new .gitignore no longer ignores it


def test_new_space_has_a_readme_with_its_sdk(hub_api: HfApi) -> None:
    hub_api.create_repo("localuser/demo-space", repo_type="space", space_sdk="static")
    readme = hub_api.hf_hub_download("localuser/demo-space", "README.md", repo_type="space")
    assert "sdk: static" in Path(readme).read_text()
    hub_api.delete_file("README.md", "localuser/demo-space", repo_type="space")


# --- group 2: settings, move, super-squash -------------------------------------------------------------
def test_update_repo_settings_private_and_gated(hub: LocalHub, hub_api: HfApi, hub_repo: str) -> None:
    hub_api.update_repo_settings(hub_repo, gated="manual", private=True)
    info = hub_api.model_info(hub_repo)
    assert (info.gated, info.private) == ("manual", True)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.endpoint, token=False).model_info(hub_repo)  # private: invisible without token
    before = store_fingerprint(hub.data_dir)
    bad = httpx2.put(
        f"{hub.endpoint}/api/models/{hub_repo}/settings",
        json={"gated": "sometimes"},
        headers={"authorization": f"Bearer {hub.token}"},
    )
    assert bad.status_code == 400 and store_fingerprint(hub.data_dir) == before
    hub_api.update_repo_settings(hub_repo, gated=False, visibility="public")
    info = hub_api.model_info(hub_repo)
    assert (info.gated, info.private) == (False, False)


def test_move_repo_keeps_the_old_id_working(hub: LocalHub, hub_api: HfApi, hub_repo: str) -> None:
    hub_api.upload_file(path_or_fileobj=b"content", path_in_repo="file.txt", repo_id=hub_repo)
    new_id = hub_repo + "_renamed"
    hub_api.move_repo(hub_repo, new_id)
    assert hub_api.model_info(new_id).id == new_id
    assert Path(hub_api.hf_hub_download(hub_repo, "file.txt")).read_bytes() == b"content"  # old id leads on
    other = hub_api.create_repo("localuser/taken").repo_id
    before = store_fingerprint(hub.data_dir)
    with pytest.raises(HfHubHTTPError, match=r"A model repository called .* already exists"):
        hub_api.move_repo(new_id, other)
    assert store_fingerprint(hub.data_dir) == before
    hub_api.move_repo(new_id, hub_repo)  # back onto the old id, which now holds only the redirect
    assert hub_api.model_info(hub_repo).id == hub_repo
    assert hub_api.repo_exists(other)


def test_super_squash_leaves_one_commit_with_the_same_files(hub_api: HfApi, hub_repo: str) -> None:
    for i in range(3):
        hub_api.upload_file(path_or_fileobj=f"v{i}".encode(), path_in_repo="f.txt", repo_id=hub_repo)
    hub_api.create_tag(hub_repo, tag="before-squash")
    files = sorted(hub_api.list_repo_files(hub_repo))
    hub_api.super_squash_history(hub_repo, commit_message="squashed")
    commits = hub_api.list_repo_commits(hub_repo)
    assert [c.title for c in commits] == ["squashed"]
    assert sorted(hub_api.list_repo_files(hub_repo)) == files
    assert len(hub_api.list_repo_commits(hub_repo, revision="before-squash")) == 4  # the tag keeps history


# --- group 4: pull requests (open, commit, refs/pr/N as revisions; merge is not served yet) --------------
def test_create_pr_commits_to_refs_pr_and_leaves_main(hub_api: HfApi, hub_repo: str) -> None:
    main_before = hub_api.model_info(hub_repo).sha
    info = hub_api.create_commit(
        hub_repo, [CommitOperationAdd("buffer", b"Buffer data")], commit_message="proposal", create_pr=True
    )
    assert (info.pr_num, info.pr_revision) == (1, "refs/pr/1")
    assert info.pr_url == f"{hub_api.endpoint}/{hub_repo}/discussions/1"
    assert hub_api.model_info(hub_repo).sha == main_before
    assert (
        Path(hub_api.hf_hub_download(hub_repo, "buffer", revision="refs/pr/1")).read_bytes() == b"Buffer data"
    )
    assert hub_api.list_repo_commits(hub_repo, revision="refs/pr/1")[0].title == "proposal"
    hub_api.create_tag(hub_repo, tag="v0", revision="refs/pr/1")
    assert hub_api.model_info(hub_repo, revision="v0").sha == info.oid
    details = hub_api.get_discussion_details(hub_repo, 1)
    assert (details.is_pull_request, details.target_branch, details.title) == (
        True,
        "refs/heads/main",
        "proposal",
    )
    refs = hub_api.list_repo_refs(hub_repo, include_pull_requests=True)
    assert [p.ref for p in refs.pull_requests or []] == ["refs/pr/1"]
    assert "refs/pr/1" not in [b.name for b in refs.branches]
    pr = hub_api.create_pull_request(hub_repo, title="second")
    assert pr.git_reference == "refs/pr/2"
    with pytest.raises(RevisionNotFoundError):  # a pull request targets a branch, never a commit id
        hub_api.create_commit(
            hub_repo, [CommitOperationAdd("x", b"x")], commit_message="m", revision=info.oid, create_pr=True
        )


def test_pull_request_review_and_merge_moves_main_only_at_the_merge(
    hub: LocalHub, hub_api: HfApi, hub_repo: str
) -> None:
    hub_api.upload_file(path_or_fileobj=b"v1", path_in_repo="card.md", repo_id=hub_repo)
    pr = hub_api.create_commit(
        hub_repo,
        [CommitOperationAdd("card.md", b"v2"), CommitOperationAdd("new.txt", b"n")],
        commit_message="release v2",
        create_pr=True,
    )
    main = hub_api.model_info(hub_repo).sha
    hub_api.comment_discussion(hub_repo, pr.pr_num or 0, "looks good")
    hub_api.upload_file(path_or_fileobj=b"other", path_in_repo="other.txt", repo_id=hub_repo)  # main moves on
    main = hub_api.model_info(hub_repo).sha
    assert Path(hub_api.hf_hub_download(hub_repo, "card.md", revision=pr.pr_revision)).read_bytes() == b"v2"
    hub_api.merge_pull_request(hub_repo, pr.pr_num or 0)
    assert hub_api.model_info(hub_repo).sha != main
    assert sorted(hub_api.list_repo_files(hub_repo)) == [".gitattributes", "card.md", "new.txt", "other.txt"]
    details = hub_api.get_discussion_details(hub_repo, pr.pr_num or 0)
    assert details.status == "merged" and details.merge_commit_oid == hub_api.model_info(hub_repo).sha
    assert [e.type for e in details.events] == ["comment", "status-change"]


def test_a_conflicting_pull_request_is_refused_and_changes_nothing(
    hub: LocalHub, hub_api: HfApi, hub_repo: str
) -> None:
    hub_api.upload_file(path_or_fileobj=b"v1", path_in_repo="card.md", repo_id=hub_repo)
    pr = hub_api.create_commit(
        hub_repo, [CommitOperationAdd("card.md", b"pr")], commit_message="pr", create_pr=True
    )
    hub_api.upload_file(path_or_fileobj=b"main", path_in_repo="card.md", repo_id=hub_repo)
    before = store_fingerprint(hub.data_dir)
    with pytest.raises(HfHubHTTPError, match="conflicts") as err:
        hub_api.merge_pull_request(hub_repo, pr.pr_num or 0)
    assert err.value.response.status_code == 409
    assert store_fingerprint(hub.data_dir) == before
    hub_api.change_discussion_status(hub_repo, pr.pr_num or 0, "closed")
    assert hub_api.get_discussion_details(hub_repo, pr.pr_num or 0).status == "closed"


def test_pages_list_pull_requests(hub: LocalHub, hub_api: HfApi, hub_repo: str) -> None:
    hub_api.create_commit(hub_repo, [CommitOperationAdd("p.txt", b"p")], commit_message="p", create_pr=True)
    page = httpx2.get(
        f"{hub.endpoint}/{hub_repo}/revisions", headers={"authorization": f"Bearer {hub.token}"}
    )
    assert page.status_code == 200
    assert "refs/pr/1" in page.text and "pull request" in page.text
    tree = httpx2.get(
        f"{hub.endpoint}/{hub_repo}/tree/refs%2Fpr%2F1", headers={"authorization": f"Bearer {hub.token}"}
    )
    assert tree.status_code == 200 and "p.txt" in tree.text
