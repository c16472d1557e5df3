"""Discussions and pull requests of the local hub: records in ``discussions.json``, refs ``refs/pr/N``.

A pull request is a discussion whose ``refs/pr/N`` ref starts at the target branch's head; commits go to
that ref (``create_pr=1`` on a commit opens one and commits to it in one step, under the repo's lock).
``refs/pr/N`` is a revision like any branch (downloads, tree, commits, tags). The record is written
before the ref that makes the pull request visible, both atomically.

Not served yet: merging, comments and status changes (docs/local-hub.md lists them).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response

from hubkit.hub.request import Ctx
from hubkit.hub.storage import RepoRef, Store, atomic_write, now_iso
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
    store: Store, repo: RepoRef, *, title: str, description: str, is_pr: bool, author: str, base: str
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
        "events": events,
    }
    data["items"].append(record)
    atomic_write(store.repo_dir(repo) / FILE, json.dumps(data).encode())
    return record


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


async def list_discussions(ctx: Ctx, repo: RepoRef) -> Response:
    ctx.readable(repo)
    items = [_summary(repo, r) for r in reversed(read_all(ctx.store, repo)["items"])]
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
    body["changes"] = {"base": f"refs/heads/{record['base']}"} if record["isPullRequest"] else {}
    return JSONResponse(body)
