"""Users, orgs and tokens of the local hub (issue 18): every permission case is refused and changes nothing.

A hub started with a users file (hashed tokens): ``alice`` (a write and a read token), ``bob`` (a write
token), org ``acme`` with member ``alice``. Everything goes through the unmodified ``huggingface_hub``
client, or plain HTTP for the pages, over real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fixtures_reliability import store_fingerprint
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from hubkit.hub import LocalHub
from hubkit.hub.users import hash_token

ALICE, ALICE_READ, BOB = "hf_alice_write_token", "hf_alice_read_token", "hf_bob_write_token"
USERS = {
    "users": [
        {
            "name": "alice",
            "fullname": "Alice A.",
            "tokens": [
                {"sha256": hash_token(ALICE), "role": "write", "name": "laptop"},
                {"sha256": hash_token(ALICE_READ), "role": "read", "name": "ci-read"},
            ],
        },
        {"name": "bob", "tokens": [{"sha256": hash_token(BOB), "role": "write"}]},
    ],
    "orgs": [{"name": "acme", "fullname": "Acme Inc.", "members": ["alice"]}],
}


@pytest.fixture(scope="module")
def users_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalHub, str, str]]:
    """The hub, alice's public repo and alice's private repo (one README each)."""
    data = tmp_path_factory.mktemp("users-hub")
    (data / "users.yaml").write_text(json.dumps(USERS))  # picked up from the data dir
    with LocalHub(data) as hub:
        alice = HfApi(endpoint=hub.endpoint, token=ALICE)
        public = alice.create_repo("alice/public").repo_id
        private = alice.create_repo("alice/secret", private=True).repo_id
        for repo in (public, private):
            alice.upload_file(
                path_or_fileobj=b"---\nlicense: mit\n---\nhi", path_in_repo="README.md", repo_id=repo
            )
        yield hub, public, private


def _api(hub: LocalHub, token: str | bool) -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=token)


def test_tokens_are_stored_hashed_and_whoami_reports_user_orgs_and_role(
    users_hub: tuple[LocalHub, str, str],
) -> None:
    hub, _, _ = users_hub
    assert ALICE not in (hub.data_dir / "users.yaml").read_text()
    me = _api(hub, ALICE).whoami()
    assert (me["name"], me["fullname"]) == ("alice", "Alice A.")
    assert [o["name"] for o in me["orgs"]] == ["acme"]
    assert me["auth"]["accessToken"]["role"] == "write"
    assert _api(hub, ALICE_READ).whoami()["auth"]["accessToken"]["role"] == "read"
    assert _api(hub, BOB).whoami()["orgs"] == []
    with pytest.raises(HfHubHTTPError):
        _api(hub, "hf_unknown").whoami()


def _bob_attempts(hub: LocalHub, public: str, private: str) -> list[tuple[str, Callable[[], Any], int]]:
    bob = _api(hub, BOB)
    auth = {"authorization": f"Bearer {BOB}"}
    add = [CommitOperationAdd("x.txt", b"bob was here")]
    return [
        ("commit to alice's repo", lambda: bob.create_commit(public, add, commit_message="x"), 403),
        ("create a repo in alice's namespace", lambda: bob.create_repo("alice/by-bob"), 403),
        ("create a repo in acme", lambda: bob.create_repo("acme/by-bob"), 403),
        ("delete alice's repo", lambda: bob.delete_repo(public), 403),
        ("make alice's repo private", lambda: bob.update_repo_settings(public, private=True), 403),
        ("move alice's repo", lambda: bob.move_repo(public, "bob/stolen"), 403),
        ("tag alice's repo", lambda: bob.create_tag(public, tag="v1"), 403),
        ("branch alice's repo", lambda: bob.create_branch(public, branch="b"), 403),
        ("squash alice's repo", lambda: bob.super_squash_history(public), 403),
        ("delete a file of alice's repo", lambda: bob.delete_file("README.md", public), 403),
        ("read alice's private repo", lambda: bob.model_info(private), 404),
        ("download from alice's private repo", lambda: bob.hf_hub_download(private, "README.md"), 404),
        ("list alice's private files", lambda: bob.list_repo_files(private), 404),
        ("commit to alice's private repo", lambda: bob.create_commit(private, add, commit_message="x"), 404),
        (
            "open alice's private repo page",
            lambda: httpx2.get(f"{hub.endpoint}/{private}", headers=auth).raise_for_status(),
            404,
        ),
    ]


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    return int(response.status_code) if response is not None else -1


def test_a_second_user_can_neither_write_nor_see_the_first_users_private_repos(
    users_hub: tuple[LocalHub, str, str],
) -> None:
    hub, public, private = users_hub
    before = store_fingerprint(hub.data_dir)
    outcomes = {}
    for what, attempt, expected in _bob_attempts(hub, public, private):
        with pytest.raises((HfHubHTTPError, httpx2.HTTPStatusError)) as err:
            attempt()
        outcomes[what] = (_status(err.value), expected)
    assert {k: v[0] for k, v in outcomes.items()} == {k: v[1] for k, v in outcomes.items()}
    assert store_fingerprint(hub.data_dir) == before
    listed = [m.id for m in _api(hub, BOB).list_models(author="alice")]
    assert listed == [public]
    assert private in [m.id for m in _api(hub, ALICE).list_models(author="alice")]


def test_a_read_token_reads_private_repos_but_cannot_write(users_hub: tuple[LocalHub, str, str]) -> None:
    hub, public, private = users_hub
    reader = _api(hub, ALICE_READ)
    assert reader.model_info(private).id == private
    before = store_fingerprint(hub.data_dir)
    for attempt in (
        lambda: reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=public),
        lambda: reader.create_repo("alice/by-read-token"),
        lambda: reader.delete_repo(public),
        lambda: reader.create_tag(public, tag="r"),
    ):
        with pytest.raises(HfHubHTTPError) as err:
            attempt()
        assert err.value.response.status_code == 403
    assert store_fingerprint(hub.data_dir) == before


def test_members_write_to_their_org_and_pages_hide_private_repos(
    users_hub: tuple[LocalHub, str, str],
) -> None:
    hub, _, private = users_hub
    alice = _api(hub, ALICE)
    repo = alice.create_repo("acme/shared", private=True).repo_id
    alice.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    with pytest.raises(RepositoryNotFoundError):
        _api(hub, BOB).model_info(repo)
    with httpx2.Client(base_url=hub.endpoint) as browser:
        assert browser.post("/login", data={"token": BOB}).status_code == 303
        assert browser.get(f"/{private}").status_code == 404
        assert private not in browser.get("/").text
    with httpx2.Client(base_url=hub.endpoint) as browser:
        assert browser.post("/login", data={"token": ALICE_READ}).status_code == 303
        assert browser.get(f"/{private}").status_code == 200


def test_anonymous_reads_public_only(users_hub: tuple[LocalHub, str, str]) -> None:
    hub, public, private = users_hub
    anonymous = _api(hub, False)
    assert anonymous.model_info(public).id == public
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info(private)
    with pytest.raises(HfHubHTTPError) as err:
        anonymous.create_repo("alice/anon")
    assert err.value.response.status_code == 401


def test_a_malformed_users_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    from hubkit.errors import LocalHubError

    (tmp_path / "users.yaml").write_text("users:\n  - name: eve\n    tokens: [{sha256: plain-token}]\n")
    with pytest.raises(LocalHubError, match="hash_token"), LocalHub(tmp_path):
        pass


def test_a_second_user_may_open_a_pull_request_on_a_public_repo(users_hub: tuple[LocalHub, str, str]) -> None:
    hub, public, _ = users_hub
    alice, bob = _api(hub, ALICE), _api(hub, BOB)
    main = alice.model_info(public).sha
    info = bob.create_commit(
        public, [CommitOperationAdd("fix.txt", b"f")], commit_message="fix", create_pr=True
    )
    assert info.pr_revision is not None and alice.model_info(public).sha == main
    assert alice.get_discussion_details(public, info.pr_num or 0).author == "bob"


def test_only_the_repos_owners_merge_a_pull_request(users_hub: tuple[LocalHub, str, str]) -> None:
    hub, public, _ = users_hub
    alice, bob = _api(hub, ALICE), _api(hub, BOB)
    info = bob.create_commit(
        public, [CommitOperationAdd("bob.txt", b"b")], commit_message="b", create_pr=True
    )
    main = alice.model_info(public).sha
    with pytest.raises(HfHubHTTPError) as err:
        bob.merge_pull_request(public, info.pr_num or 0)
    assert err.value.response.status_code == 403 and alice.model_info(public).sha == main
    alice.merge_pull_request(public, info.pr_num or 0)
    assert alice.file_exists(public, "bob.txt")
