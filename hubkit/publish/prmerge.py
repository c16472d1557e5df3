"""``hubkit pr merge ORG/NAME N``: land a release proposed with ``hubkit publish --create-pr``.

Run by one of the repo's owners. Everything is checked before the first write:

- the pull request is open (or already merged: then only what is missing is done) and carries a release
  manifest written by its own author (:data:`~hubkit.layout.RELEASE_MARKER`; the latest one counts);
- the pull request's head is still the manifest's (nobody pushed after hubkit wrote it);
- each revision's commit is in the pull request's history and its ``hubkit.json`` names that revision;
- each branch (and the tag) is missing, already right, or still where it was when the pull request was
  made (else someone moved it since: a conflict, unless ``--force``).

Then: the merge (``main`` moves, in one atomic step on the Hub), the branches at their commits, the tag at
the merge commit. A re-run after an interruption finishes what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubkit.errors import InputError, RecordError, RemoteConflictError
from hubkit.layout import HUBKIT_JSON, RELEASE_MARKER, HubkitRecord, ReleaseManifest
from hubkit.publish.remote import Refs, Remote


@dataclass(frozen=True)
class MergeReport:
    """What ``hubkit pr merge`` did."""

    repo_id: str  # "org/name"
    num: int  # 3
    merge_commit: str  # main's commit after the merge
    branches: dict[str, str] = field(default_factory=dict)  # every revision branch -> its commit
    created: tuple[str, ...] = ()  # refs this run created or moved ("epoch-004", "tag v1")
    tag: str | None = None  # "v1"
    already_merged: bool = False  # the pull request was merged before this run

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "pull_request": self.num,
            "merge_commit": self.merge_commit,
            "branches": dict(self.branches),
            "created": list(self.created),
            "tag": self.tag,
            "already_merged": self.already_merged,
        }


def read_manifest(details: Any) -> ReleaseManifest:
    """The latest release manifest the pull request's author posted on it.

    Raises:
        InputError: there is none (not a hubkit release, or its publish did not finish).
    """
    for event in reversed(details.events):
        content = getattr(event, "content", None)
        if event.type != "comment" or event.author != details.author or not content:
            continue
        if not content.startswith(RELEASE_MARKER):
            continue
        start = content.find("```json\n")
        end = content.find("\n```", start + 8)
        if start < 0 or end < 0:
            continue
        try:
            return ReleaseManifest.from_json(content[start + 8 : end])
        except RecordError as exc:
            raise InputError(
                f"pull request #{details.num}: its release manifest is unreadable ({exc.message})",
                hint="re-run `hubkit publish --create-pr` for this run: it writes the manifest again",
            ) from None
    raise InputError(
        f"pull request #{details.num} carries no hubkit release manifest from its author",
        hint="merge it with `hf` or the web page if it is not a hubkit release; if it is, its publish did "
        "not finish: re-run `hubkit publish --create-pr`, which continues it",
    )


def merge_release(remote: Remote, num: int, *, force: bool = False) -> MergeReport:
    """Merge pull request ``num`` of ``remote``'s repo and create the branches and tag it proposes.

    Raises:
        InputError: not a pull request, closed, or without a manifest.
        RemoteConflictError: the pull request changed after its manifest, a revision's commit is not
            in it, or a branch / the tag moved since the pull request was made (``force`` replaces).

    Example:
        >>> merge_release(Remote(hub_api(endpoint, token), "org/name"), 3).merge_commit  # doctest: +SKIP
        '5f2c…'
    """
    details = remote.pull_request(num)
    if details is None:
        raise InputError(
            f"{remote.repo_id} has no pull request #{num}",
            hint=f"its number ends its URL ({remote.repo_url}/discussions/N)",
        )
    if not details.is_pull_request:
        raise InputError(
            f"#{num} of {remote.repo_id} is a discussion, not a pull request", hint="pass its number"
        )
    if details.status not in ("open", "draft", "merged"):
        raise InputError(
            f"pull request #{num} of {remote.repo_id} is {details.status}",
            hint="reopen it on its page, or re-run `hubkit publish --create-pr` for a new one",
        )
    manifest = read_manifest(details)
    merged = details.status == "merged"
    refs = remote.refs()
    assert refs is not None, "the repo exists: its pull request was just read"
    _check(remote, num, manifest, refs, merged=merged, force=force)

    if not merged:
        remote.merge_pull_request(num)
        details = remote.pull_request(num)
    merge_commit = str(details.merge_commit_oid)
    created: list[str] = []
    for rev in manifest.revisions:
        current = refs.branches.get(rev.name)
        if current == rev.commit:
            continue
        if current is not None:
            remote.delete_branch(rev.name)
        remote.create_branch(rev.name, rev.commit)
        created.append(rev.name)
    tag = manifest.tag
    if tag and refs.tags.get(tag) != merge_commit:
        if tag in refs.tags:
            remote.delete_tag(tag)
        remote.create_tag(tag, merge_commit)
        created.append(f"tag {tag}")
    return MergeReport(
        repo_id=remote.repo_id,
        num=num,
        merge_commit=merge_commit,
        branches={r.name: r.commit for r in manifest.revisions},
        created=tuple(created),
        tag=tag,
        already_merged=merged,
    )


def _check(
    remote: Remote, num: int, manifest: ReleaseManifest, refs: Refs, *, merged: bool, force: bool
) -> None:
    """Every check of the module's doc, with read-only calls."""
    ref = f"refs/pr/{num}"
    head = remote.pull_request_head(num)
    if head != manifest.head:
        raise RemoteConflictError(
            f"pull request #{num} changed after hubkit wrote its release manifest (head {str(head)[:7]}, "
            f"manifest {manifest.head[:7]})",
            hint="re-run `hubkit publish --create-pr` for the run (it writes a new manifest), then merge",
        )
    history = remote.history(ref)
    for rev in manifest.revisions:
        if rev.commit not in history:
            raise RemoteConflictError(
                f"pull request #{num}: the commit {rev.commit[:7]} of {rev.name} is not in it",
                hint="re-run `hubkit publish --create-pr` for the run, then merge",
            )
        record = HubkitRecord.from_json(remote.read_small(rev.commit, HUBKIT_JSON))
        if record.revision != rev.name:
            raise RemoteConflictError(
                f"pull request #{num}: commit {rev.commit[:7]} holds {record.revision}, not {rev.name}",
                hint="re-run `hubkit publish --create-pr` for the run, then merge",
            )
        current = refs.branches.get(rev.name)
        if current not in (None, rev.commit, rev.replaces) and not force:
            raise RemoteConflictError(
                f"branch {rev.name} points at {str(current)[:7]}, which the pull request did not expect "
                f"({'a new branch' if rev.replaces is None else rev.replaces[:7]}): it moved since",
                hint="check who moved it; --force replaces it with the pull request's revision",
            )
    tag = manifest.tag
    current_tag = refs.tags.get(tag) if tag else None
    if tag and current_tag not in (None, manifest.tag_replaces) and not force and not merged:
        raise RemoteConflictError(
            f"tag {tag} points at {str(current_tag)[:7]}, which the pull request did not expect: it moved since",
            hint="check who moved it; --force moves it to the merge commit",
        )
