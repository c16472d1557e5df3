"""Repo administration in the store: settings (private, gated), move, super-squash.

Each operation checks everything before it changes anything and runs under the repo's lock, so a
refused request leaves the store as it was and a repeated one is harmless:

- settings rewrite ``repo.json`` atomically (same settings twice: same file);
- a move renames the repo's dir in one ``os.replace`` and leaves ``moved.json`` at the old id, which
  :meth:`Store.canonical` follows (the Hub keeps old ids working after a rename); moving onto an
  existing repo is a 409 with the Hub's wording;
- a super-squash writes one parentless commit with the branch's files, then moves the branch; the old
  commits stay stored (tags and commit ids that point at them still resolve).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from typing import Any

from hubkit.hub.storage import MOVED, Commit, RepoRef, Store, atomic_write
from hubkit.hub.validation import HubHTTPError, bad_request

GATED_VALUES: tuple[Any, ...] = ("auto", "manual", False)
_TYPE_WORDS = {"model": "model", "dataset": "dataset", "space": "space", "kernel": "kernel"}


def update_settings(store: Store, repo: RepoRef, body: Any) -> dict[str, Any]:
    """Apply ``{"private"?, "visibility"?, "gated"?}`` to the repo's metadata; the new metadata.

    Example:
        >>> update_settings(store, repo, {"gated": "manual", "visibility": "private"})["gated"]
        'manual'
    """
    if not isinstance(body, dict) or not body:
        raise bad_request("At least one setting must be updated.", "InvalidSettings")
    changes: dict[str, Any] = {}
    if "gated" in body:
        if body["gated"] not in GATED_VALUES or body["gated"] is True:
            raise bad_request("'gated' must be 'auto', 'manual' or false.", "InvalidSettings")
        changes["gated"] = body["gated"]
    visibility = body.get("visibility")
    if visibility is not None:
        if visibility not in ("public", "private", "protected"):
            raise bad_request(f"Unknown visibility {visibility!r}.", "InvalidVisibility")
        changes["private"] = visibility != "public"
    elif "private" in body:
        if not isinstance(body["private"], bool):
            raise bad_request("'private' must be true or false.", "InvalidSettings")
        changes["private"] = body["private"]
    unknown = set(body) - {"gated", "visibility", "private", "discussionsDisabled"}
    if unknown:
        raise bad_request(f"Unknown settings: {', '.join(sorted(unknown))}.", "InvalidSettings")
    with store.lock(repo):
        meta = store.repo_meta(repo)
        meta.update(changes)
        atomic_write(store.repo_dir(repo) / "repo.json", json.dumps(meta).encode())
    return meta


def move_repo(store: Store, source: RepoRef, target: RepoRef) -> RepoRef:
    """Rename ``source`` (stored spelling) to ``target``; the old id then leads to the new one.

    Example:
        >>> move_repo(store, RepoRef("model", "u", "old"), RepoRef("model", "u", "new")).repo_id
        'u/new'
    """
    store.repo_meta(source)  # 404 RepoNotFound first
    target = store.canonical(target, follow_moves=False)
    if target == source:
        return target
    first, second = sorted((source, target), key=lambda r: str(store.repo_dir(r)))
    with store.lock(first), store.lock(second):
        store.repo_meta(source)
        target_dir, source_dir = store.repo_dir(target), store.repo_dir(source)
        if (target_dir / "repo.json").exists() or set(os.listdir(target_dir)) - {"lock", MOVED}:
            kind = _TYPE_WORDS[target.type]
            raise HubHTTPError(
                409, "RepoExists", f"A {kind} repository called {target.repo_id} already exists."
            )
        leftovers = store.root / "tmp" / f"moved-{secrets.token_hex(8)}"
        os.replace(target_dir, leftovers)  # only the target's lock file (and an old redirect)
        os.replace(source_dir, target_dir)  # the move itself: one rename
        meta = store.repo_meta(target)
        meta["id"] = target.repo_id
        atomic_write(target_dir / "repo.json", json.dumps(meta).encode())
        source_dir.mkdir(parents=True, exist_ok=True)
        redirect = {"namespace": target.namespace, "name": target.name}
        atomic_write(source_dir / MOVED, json.dumps(redirect).encode())
        shutil.rmtree(leftovers, ignore_errors=True)
    return target


def super_squash(store: Store, repo: RepoRef, branch: str, message: str, author: str) -> Commit:
    """Replace ``branch``'s history by one commit holding its current files.

    Example:
        >>> super_squash(store, repo, "main", "Squash", "localuser").parents
        ()
    """
    with store.lock(repo):
        refs = store.read_refs(repo)
        if branch not in refs["branches"]:
            raise HubHTTPError(404, "RevisionNotFound", f"Invalid rev id: {branch}")
        head = store.read_commit(repo, refs["branches"][branch])
        commit = store.new_commit((), message, "", author, head.files, digest="")
        store.write_commit(repo, commit)
        refs["branches"][branch] = commit.id
        store.write_refs(repo, refs)
        return commit
