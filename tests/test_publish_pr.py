"""``hubkit publish --create-pr`` and ``hubkit pr merge`` (issue 18): a release proposed by a user who
cannot push to the repo lands as one pull request; main, the branches and the tag move only at the merge.

A hub with two users (hashed tokens): ``alice`` owns ``alice/digits``; ``bob`` has a write token but no
right on alice's namespace. Everything goes through the unmodified ``huggingface_hub`` client over HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import hubkit
from fixtures_reliability import store_fingerprint
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import RepoFile

from hubkit.hub import LocalHub
from hubkit.hub.users import hash_token
from hubkit.layout import HUBKIT_JSON, VERIFICATION_JSON, HubkitRecord, VerificationRecord

ALICE, BOB = "hf_alice_owner_token", "hf_bob_contributor_token"
USERS = {
    "users": [
        {"name": "alice", "tokens": [{"sha256": hash_token(ALICE), "role": "write"}]},
        {"name": "bob", "tokens": [{"sha256": hash_token(BOB), "role": "write"}]},
    ]
}
REPO = "alice/digits"
NOTICE = b"Alice's own file: hubkit does not manage it, so main keeps it.\n"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    data = tmp_path_factory.mktemp("pr-hub")
    (data / "users.yaml").write_text(json.dumps(USERS))
    with LocalHub(data) as server:
        alice = HfApi(endpoint=server.endpoint, token=ALICE)
        alice.create_repo(REPO)
        alice.upload_file(path_or_fileobj=NOTICE, path_in_repo="NOTICE.txt", repo_id=REPO)
        yield server


def _api(hub: LocalHub, token: str) -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=token)


def _run(hub: LocalHub, token: str, *argv: str) -> tuple[int, str, Any]:
    code, out, err = hubkit("--debug", *argv, "--endpoint", hub.endpoint, "--token", token, "--json")
    return code, err + out, json.loads(out) if code == 0 else None


def _propose(hub: LocalHub, run: Path) -> dict[str, Any]:
    code, output, report = _run(
        hub, BOB, "publish", str(run), "--repo", REPO, "--create-pr", "--select", "epochs:1", "--tag", "v1",
        "--device", "cpu", "--no-dynamics",
    )  # fmt: skip
    assert code == 0, output
    return dict(report)


def _refs(api: HfApi) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    refs = api.list_repo_refs(REPO, include_pull_requests=True)
    return (
        {b.name: b.target_commit for b in refs.branches},
        {t.name: t.target_commit for t in refs.tags},
        {p.ref: p.target_commit for p in refs.pull_requests or []},
    )


def _tree(api: HfApi, revision: str) -> dict[str, str]:
    entries = api.list_repo_tree(REPO, revision=revision, recursive=True)
    return {f.path: f.blob_id for f in entries if isinstance(f, RepoFile)}


@pytest.mark.slow
def test_a_contributor_proposes_a_release_and_only_the_owners_merge_moves_main(
    hub: LocalHub, timm_run_dir: Path
) -> None:
    alice, bob = _api(hub, ALICE), _api(hub, BOB)
    main_before = _refs(alice)[0]["main"]

    # --- bob proposes: one pull request, nothing else moves --------------------------------------
    report = _propose(hub, timm_run_dir)
    pr = report["pull_request"]
    assert pr["num"] == 1 and pr["url"].endswith(f"/{REPO}/discussions/1")
    assert [(r["revision"], r["status"], r["verified"]) for r in report["revisions"]] == [
        ("epoch-001", "proposed", True),
        ("epoch-004", "proposed", True),
    ]
    branches, tags, prs = _refs(alice)
    assert branches == {"main": main_before} and tags == {}  # main unmoved, no branch, no tag
    assert report["main"]["commit"] == main_before
    assert prs == {"refs/pr/1": pr["head"]}
    history = {c.commit_id for c in alice.list_repo_commits(REPO, revision="refs/pr/1")}
    for rev in report["revisions"]:  # each revision's commit is in the pull request, verified, named
        assert rev["commit"] in history
        record = HubkitRecord.from_json(
            Path(alice.hf_hub_download(REPO, HUBKIT_JSON, revision=rev["commit"])).read_bytes()
        )
        assert record.revision == rev["revision"]
        check = Path(alice.hf_hub_download(REPO, VERIFICATION_JSON, revision=rev["commit"])).read_bytes()
        assert VerificationRecord.from_json(check).passed
        assert set(_tree(alice, rev["commit"])) == {f["path"] for f in rev["files"]} | {".gitattributes"}
    head_tree = _tree(alice, "refs/pr/1")
    assert {"model.safetensors", "README.md", "training_curves.png", "NOTICE.txt"} <= set(head_tree)
    card = ModelCard.load(alice.hf_hub_download(REPO, "README.md", revision="refs/pr/1"))
    assert card.data.to_dict()  # main's card parses, metadata and all
    details = alice.get_discussion_details(REPO, 1)
    assert (details.is_pull_request, details.status, details.author) == (True, "open", "bob")

    # --- bob cannot land it himself ---------------------------------------------------------------
    before = store_fingerprint(hub.data_dir)
    code, output, _ = _run(hub, BOB, "pr", "merge", REPO, "1")
    assert code != 0 and "merging pull request #1" in output and BOB not in output
    assert store_fingerprint(hub.data_dir) == before

    # --- review: alice comments; a commit pushed after the manifest stops the merge ---------------
    alice.comment_discussion(REPO, 1, "Looks good; please also add a note on the data.")
    bob.create_commit(
        REPO,
        [CommitOperationAdd("DATA.md", b"digits, 8x8")],
        commit_message="data note",
        revision="refs/pr/1",
    )
    before = store_fingerprint(hub.data_dir)
    code, output, _ = _run(hub, ALICE, "pr", "merge", REPO, "1")
    assert code != 0 and "changed after hubkit wrote its release manifest" in output
    assert store_fingerprint(hub.data_dir) == before and _refs(alice)[0]["main"] == main_before

    # --- bob re-runs: the same pull request continues, with a new manifest ------------------------
    again = _propose(hub, timm_run_dir)
    assert again["pull_request"]["num"] == 1
    assert [d.num for d in alice.get_repo_discussions(REPO)] == [1]  # no second pull request
    assert _refs(alice)[0] == {"main": main_before}

    # --- alice merges: main moves now, then the branches and the tag ------------------------------
    code, output, merged = _run(hub, ALICE, "pr", "merge", REPO, "1")
    assert code == 0, output
    branches, tags, _ = _refs(alice)
    assert branches["main"] == merged["merge_commit"] != main_before
    assert {name: branches[name] for name in merged["branches"]} == {
        r["revision"]: r["commit"] for r in again["revisions"]
    }
    assert tags == {"v1": merged["merge_commit"]}
    assert _tree(alice, "main") == _tree(alice, again["pull_request"]["head"])
    assert Path(alice.hf_hub_download(REPO, "NOTICE.txt")).read_bytes() == NOTICE
    assert alice.get_discussion_details(REPO, 1).status == "merged"
    weights = next(f for f in again["revisions"][0]["files"] if f["path"] == "model.safetensors")
    local = Path(alice.hf_hub_download(REPO, "model.safetensors", revision="epoch-001"))
    assert hashlib.sha256(local.read_bytes()).hexdigest() == weights["sha256"]

    # --- a re-run of the merge finds everything in place ------------------------------------------
    code, output, repeat = _run(hub, ALICE, "pr", "merge", REPO, "1")
    assert code == 0, output
    assert repeat["already_merged"] and repeat["created"] == []
    assert _refs(alice)[0] == branches


def test_create_pr_on_a_missing_repo_fails_before_any_write(hub: LocalHub, timm_run_dir: Path) -> None:
    before = store_fingerprint(hub.data_dir)
    code, output, _ = _run(
        hub, BOB, "publish", str(timm_run_dir), "--repo", "alice/nothing-here", "--create-pr", "--no-verify"
    )
    assert code != 0
    assert "alice/nothing-here does not exist" in output and "ask one of its owners" in output
    assert store_fingerprint(hub.data_dir) == before


def test_only_the_author_of_an_open_pull_request_pushes_to_its_ref(hub: LocalHub) -> None:
    alice, bob = _api(hub, ALICE), _api(hub, BOB)
    repo = alice.create_repo("alice/pushes").repo_id
    weights = CommitOperationAdd("w.safetensors", b"\0" * 4096)  # an LFS / Xet upload, not a regular file
    mine = bob.create_commit(repo, [weights], commit_message="bob's idea", create_pr=True)
    pushed = bob.create_commit(
        repo,
        [CommitOperationAdd("w.safetensors", b"\1" * 4096)],
        commit_message="more",
        revision=mine.pr_revision,
    )
    assert bob.list_repo_commits(repo, revision=mine.pr_revision)[0].commit_id == pushed.oid
    theirs = alice.create_commit(
        repo, [CommitOperationAdd("a.txt", b"a")], commit_message="a", create_pr=True
    )
    with pytest.raises(HfHubHTTPError) as refused:
        bob.create_commit(
            repo, [CommitOperationAdd("b.txt", b"b")], commit_message="b", revision=theirs.pr_revision
        )
    assert refused.value.response.status_code == 403
    assert mine.pr_num is not None
    bob.change_discussion_status(repo, mine.pr_num, "closed")
    with pytest.raises(HfHubHTTPError) as closed:
        bob.create_commit(
            repo, [CommitOperationAdd("c.txt", b"c")], commit_message="c", revision=mine.pr_revision
        )
    assert closed.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as main:
        bob.create_commit(repo, [CommitOperationAdd("d.txt", b"d")], commit_message="d")
    assert main.value.response.status_code == 403


def test_opening_the_pull_request_again_after_a_lost_answer_finds_the_first(hub: LocalHub) -> None:
    """The request reached the hub and opened the pull request, but the answer was lost: the retry must not
    open a second one."""
    from hubkit.hub.client import HubkitApi
    from hubkit.publish.remote import Remote

    class LosesFirstAnswer(HubkitApi):
        lost = 0

        def create_pull_request(self, *args: Any, **kwargs: Any) -> Any:
            details = super().create_pull_request(*args, **kwargs)  # applied on the hub
            if not self.lost:
                self.lost += 1
                raise ConnectionResetError("connection reset before the answer arrived")
            return details

    alice = _api(hub, ALICE)
    repo = alice.create_repo("alice/lost-answer").repo_id
    remote = Remote(LosesFirstAnswer(endpoint=hub.endpoint, token=BOB), repo)
    num = remote.open_pull_request("hubkit release: x", "text")
    assert [(d.num, d.author) for d in alice.get_repo_discussions(repo)] == [(num, "bob")]
