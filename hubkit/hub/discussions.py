"""Discussions and pull requests of the local hub: records in ``discussions.json``, refs ``refs/pr/N``.

A pull request is a discussion whose ``refs/pr/N`` ref starts at the target branch's head; commits go to
that ref (``create_pr=1`` on a commit opens one and commits to it in one step, under the repo's lock).
``refs/pr/N`` is a revision like any branch (downloads, tree, commits, tags). The record is written
before the ref that makes the pull request visible, both atomically.

Comments, status changes (open / closed) and merges add events. A merge applies the pull request's
changes since its fork point onto the target branch's head in one new commit, under the repo's lock;
a path changed differently on both sides is a conflict (409, nothing changes).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from hubkit.hub.request import Ctx
from hubkit.hub.storage import RepoRef, Store, atomic_write, now_iso
from hubkit.hub.users import Identity
from hubkit.hub.validation import HubHTTPError, bad_request

FILE = "discussions.json"
PR_PREFIX = "refs/pr/"


def read_all(store: Store, repo: RepoRef) -> dict[str, Any]:
    """``{"items": [record, ...]}``, numbered from 1 in order."""
    try:
        data: dict[str, Any] = json.loads((store.repo_dir(repo) / FILE).read_bytes())
    except (OSError, ValueError):
        data = {"items": []}
    return data


def add_locked(
    store: Store,
    repo: RepoRef,
    *,
    title: str,
    description: str,
    is_pr: bool,
    author: str,
    base: str,
    fork: str = "",
) -> dict[str, Any]:
    """Record a new discussion (the caller holds the repo's lock); returns it with its ``num``."""
    data = read_all(store, repo)
    events = []
    if description:
        events.append(_event(len(data["items"]) + 1, 0, "comment", author, _comment_data(description)))
    record = {
        "num": len(data["items"]) + 1,
        "title": title,
        "status": "open" if not is_pr else "draft" if not description else "open",
        "isPullRequest": is_pr,
        "author": author,
        "createdAt": now_iso(),
        "base": base,
        "fork": fork,  # the base branch's head when the pull request was opened (merge base)
        "events": events,
    }
    data["items"].append(record)
    atomic_write(store.repo_dir(repo) / FILE, json.dumps(data).encode())
    return record


def pusher(ctx: Ctx, repo: RepoRef, rev: str | None) -> Identity:
    """Who may upload to ``rev`` of ``repo``, as on the Hub: its writers; with ``?create_pr=1`` any write
    token of a user who can see the repo (a pull request may be opened on someone else's repo); and the
    author of an open pull request pushing more commits to its own ``refs/pr/N``."""
    name = (rev or "").removeprefix("refs/heads/")
    if not ctx.flag("create_pr") and not name.startswith(PR_PREFIX):
        return ctx.writable(repo)
    identity = ctx.require_write()
    ctx.readable(repo)
    if ctx.flag("create_pr") or identity.may_write(repo.namespace):
        return identity
    num = name.removeprefix(PR_PREFIX)
    items = read_all(ctx.store, repo)["items"]
    record = items[int(num) - 1] if num.isdigit() and 1 <= int(num) <= len(items) else None
    if record is None or record["author"] != identity.user or record["status"] not in ("open", "draft"):
        raise HubHTTPError(
            403,
            "Forbidden",
            f"Only the author of an open pull request or the repo's owners may push to {name}.",
        )
    return identity


def _comment_data(text: str) -> dict[str, Any]:
    return {"edited": False, "hidden": False, "latest": {"raw": text, "html": ""}}


def _event(num: int, index: int, kind: str, author: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{num:012x}{index:012x}",
        "type": kind,
        "createdAt": now_iso(),
        "author": {"name": author},
        "data": data,
    }


def pr_url(ctx: Ctx, repo: RepoRef, num: int) -> str:
    return f"{ctx.base_url}/{repo.url_path}/discussions/{num}"


def _summary(repo: RepoRef, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "num": record["num"],
        "title": record["title"],
        "status": record["status"],
        "isPullRequest": record["isPullRequest"],
        "author": {"name": record["author"]},
        "createdAt": record["createdAt"],
        "repo": {"name": repo.repo_id, "type": repo.type},
    }


_KINDS = {"pull_request": True, "discussion": False}


async def list_discussions(ctx: Ctx, repo: RepoRef) -> Response:
    """Newest first; ``type`` (``pull_request`` / ``discussion``), ``status`` and ``author`` filter as on
    the Hub (``all`` or no value: no filter)."""
    ctx.readable(repo)
    kind, status, author = ctx.arg("type"), ctx.arg("status"), ctx.arg("author")
    records = [
        r
        for r in reversed(read_all(ctx.store, repo)["items"])
        if (kind not in _KINDS or r["isPullRequest"] == _KINDS[kind])
        and (status in (None, "", "all") or r["status"] == status)
        and (not author or r["author"] == author)
    ]
    items = [_summary(repo, r) for r in records]
    closed = sum(1 for r in items if r["status"] in ("closed", "merged"))
    return JSONResponse(
        {"discussions": items, "count": len(items), "start": 0, "numClosedDiscussions": closed}
    )


async def create_discussion(ctx: Ctx, repo: RepoRef) -> Response:
    identity = ctx.require_write()  # anyone with a write token may open one, also on others' repos
    ctx.readable(repo)
    body = await ctx.json()
    if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"].strip():
        raise bad_request("A discussion needs a non-empty 'title'.", "InvalidDiscussion")
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise bad_request("'description' must be a string.", "InvalidDiscussion")
    is_pr = body.get("pullRequest") is True
    with ctx.store.lock(repo):
        refs = ctx.store.read_refs(repo)
        record = add_locked(
            ctx.store,
            repo,
            title=body["title"],
            description=description,
            is_pr=is_pr,
            author=identity.user,
            base="main",
            fork=refs["branches"]["main"],
        )
        if is_pr:
            refs["branches"][f"{PR_PREFIX}{record['num']}"] = refs["branches"]["main"]
            ctx.store.write_refs(repo, refs)
    return JSONResponse({"num": record["num"], "url": pr_url(ctx, repo, record["num"])})


async def discussion_details(ctx: Ctx, repo: RepoRef, num: str) -> Response:
    ctx.readable(repo)
    items = read_all(ctx.store, repo)["items"]
    if not num.isdigit() or not 1 <= int(num) <= len(items):
        raise HubHTTPError(404, "DiscussionNotFound", f"Discussion #{num} not found")
    record = items[int(num) - 1]
    body = {**_summary(repo, record), "events": record["events"], "filesWithConflicts": []}
    changes: dict[str, Any] = {"base": f"refs/heads/{record['base']}"}
    if record.get("mergeCommitId"):
        changes["mergeCommitId"] = record["mergeCommitId"]
    body["changes"] = changes if record["isPullRequest"] else {}
    return JSONResponse(body)


def _record(data: dict[str, Any], num: str) -> dict[str, Any]:
    items = data["items"]
    if not num.isdigit() or not 1 <= int(num) <= len(items):
        raise HubHTTPError(404, "DiscussionNotFound", f"Discussion #{num} not found")
    record: dict[str, Any] = items[int(num) - 1]
    return record


def _save(store: Store, repo: RepoRef, data: dict[str, Any]) -> None:
    atomic_write(store.repo_dir(repo) / FILE, json.dumps(data).encode())


def _add_event(record: dict[str, Any], kind: str, author: str, data: dict[str, Any]) -> dict[str, Any]:
    event = _event(record["num"], len(record["events"]) + 1, kind, author, data)
    record["events"].append(event)
    return event


async def comment(ctx: Ctx, repo: RepoRef, num: str) -> Response:
    identity = ctx.require_write()
    ctx.readable(repo)
    body = await ctx.json()
    text = body.get("comment") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise bad_request("A comment needs a non-empty 'comment'.", "InvalidComment")
    with ctx.store.lock(repo):
        data = read_all(ctx.store, repo)
        event = _add_event(_record(data, num), "comment", identity.user, _comment_data(text))
        _save(ctx.store, repo, data)
    return JSONResponse({"newMessage": event})


async def change_status(ctx: Ctx, repo: RepoRef, num: str) -> Response:
    identity = ctx.require_write()
    ctx.readable(repo)
    body = await ctx.json()
    status = body.get("status") if isinstance(body, dict) else None
    if status not in ("open", "closed"):
        raise bad_request("'status' must be 'open' or 'closed'.", "InvalidStatus")
    with ctx.store.lock(repo):
        data = read_all(ctx.store, repo)
        record = _record(data, num)
        if record["author"] != identity.user and not identity.may_write(repo.namespace):
            raise HubHTTPError(
                403, "Forbidden", "Only the author or the repo's owners may change the status."
            )
        if record["status"] == "merged":
            raise bad_request("A merged pull request cannot change status.", "AlreadyMerged")
        record["status"] = status
        event = _add_event(record, "status-change", identity.user, {"status": status})
        if isinstance(body.get("comment"), str) and body["comment"].strip():
            _add_event(record, "comment", identity.user, _comment_data(body["comment"]))
        _save(ctx.store, repo, data)
    return JSONResponse({"newStatus": event})


def merge_files(base: dict[str, Any], fork: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """Apply the changes ``fork`` -> ``head`` onto ``base`` (path -> entry with ``sha256``).

    A path changed on both sides to different contents is a conflict (409 with the paths).

    Example:
        >>> merge_files({"a": 1}, {"a": 1}, {"a": 1, "b": 2})  # doctest: +SKIP
    """

    def key(entry: Any) -> str | None:
        return None if entry is None else str(entry.sha256)

    merged = dict(base)
    conflicts = []
    for path in set(fork) | set(head):
        theirs, original, ours = key(head.get(path)), key(fork.get(path)), key(base.get(path))
        if theirs == original:
            continue  # not changed by the pull request
        if ours != original and ours != theirs:
            conflicts.append(path)
        elif theirs is None:
            merged.pop(path, None)
        else:
            merged[path] = head[path]
    if conflicts:
        raise HubHTTPError(
            409,
            "MergeConflict",
            f"This pull request has conflicts with its target branch: {', '.join(sorted(conflicts))}",
        )
    return merged


async def merge(ctx: Ctx, repo: RepoRef, num: str) -> Response:
    identity = ctx.writable(repo)  # only the repo's owners merge
    await ctx.json(allow_empty=True)
    return JSONResponse(await run_in_threadpool(_merge, ctx.store, repo, num, identity.user))


def _merge(store: Store, repo: RepoRef, num: str, user: str) -> dict[str, Any]:
    with store.lock(repo):
        data = read_all(store, repo)
        record = _record(data, num)
        if not record["isPullRequest"] or record["status"] not in ("open", "draft"):
            raise bad_request(f"Discussion #{num} is not an open pull request.", "NotMergeable")
        refs = store.read_refs(repo)
        base = refs["branches"].get(record["base"])
        if base is None:
            raise HubHTTPError(404, "RevisionNotFound", f"Invalid rev id: {record['base']}")
        pr_head = refs["branches"][f"{PR_PREFIX}{record['num']}"]
        base_commit, head_commit = store.read_commit(repo, base), store.read_commit(repo, pr_head)
        fork_files = (
            store.read_commit(repo, record["fork"]).files if record.get("fork") else base_commit.files
        )
        files = merge_files(base_commit.files, fork_files, head_commit.files)
        commit = store.new_commit(
            (base, pr_head),
            f"Merge pull request #{record['num']}: {record['title']}",
            "",
            user,
            files,
            digest="",
        )
        store.write_commit(repo, commit)
        refs["branches"][record["base"]] = commit.id  # the commit point: the target branch moves
        store.write_refs(repo, refs)
        record["status"], record["mergeCommitId"] = "merged", commit.id
        event = _add_event(record, "status-change", user, {"status": "merged"})
        _save(store, repo, data)
    return {"newStatus": event, "mergeCommitId": commit.id}
