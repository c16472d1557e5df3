"""File-level endpoints: tree, paths-info, commits, preupload, commit, resolve and the LFS path."""

from __future__ import annotations

import functools
import hashlib
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, Response

from hubkit.hub import discussions
from hubkit.hub.commits import apply_commit, parse_commit_body
from hubkit.hub.discussions import PR_PREFIX
from hubkit.hub.lfs import batch_response, check_signature
from hubkit.hub.pages.views import prerender
from hubkit.hub.request import Ctx, header_safe
from hubkit.hub.storage import Commit, FileEntry, RepoRef, lfs_pointer
from hubkit.hub.upload_rules import UploadRules
from hubkit.hub.validation import HubHTTPError, bad_request, check_path, check_revision, check_sha256
from hubkit.hub.xet import routes as xet_routes

MAX_PREUPLOAD_FILES = 1000
# Repo files are untrusted and served from the pages' origin: never run or render them as a document.
BLOB_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"}


class _BlobResponse(FileResponse):
    """FileResponse (HEAD, Range, 206) with 1 MiB reads: 16x fewer event-loop turns than 64 KiB."""

    chunk_size = 1024 * 1024


def _resolve(ctx: Ctx, repo: RepoRef, rev: str) -> Commit:
    ctx.readable(repo)
    commit_id, _ = ctx.store.resolve(repo, check_revision(rev))
    return ctx.store.read_commit(repo, commit_id)


def _file_item(entry: FileEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "file", "oid": entry.sha1, "size": entry.size, "path": entry.path}
    if entry.lfs:
        item["lfs"] = {
            "oid": entry.sha256,
            "size": entry.size,
            "pointerSize": len(lfs_pointer(entry.sha256, entry.size)),
        }
    return item


def _dir_item(path: str, files: dict[str, FileEntry]) -> dict[str, Any]:
    listing = sorted((p, e.sha1) for p, e in files.items() if p.startswith(path + "/"))
    oid = hashlib.sha1(repr(listing).encode(), usedforsecurity=False).hexdigest()
    return {"type": "directory", "oid": oid, "size": 0, "path": path}


def _last_commits(ctx: Ctx, repo: RepoRef, commit: Commit, paths: list[str]) -> dict[str, Commit]:
    """For each file path, the oldest commit of the unbroken run (from ``commit`` back) with its content."""
    found: dict[str, Commit] = {}
    pending = {p: commit.files[p].sha256 for p in paths if p in commit.files}
    previous = commit
    for older in ctx.store.history(repo, commit.id)[1:]:
        for path in list(pending):
            entry = older.files.get(path)
            if entry is None or entry.sha256 != pending[path]:
                found[path] = previous
                del pending[path]
        if not pending:
            break
        previous = older
    for path in pending:
        found[path] = previous
    return found


def _with_last_commit(ctx: Ctx, repo: RepoRef, commit: Commit, items: list[dict[str, Any]]) -> None:
    last = _last_commits(ctx, repo, commit, [i["path"] for i in items if i["type"] == "file"])
    for item in items:
        c = last.get(item["path"], commit)
        item["lastCommit"] = {"id": c.id, "title": c.title, "date": c.date}


def _page(ctx: Ctx, items: list[Any], size: int) -> Response:
    try:
        start = int(ctx.arg("cursor") or 0)
    except ValueError:
        raise bad_request("Invalid pagination cursor.", "InvalidCursor") from None
    if start < 0:
        raise bad_request("Invalid pagination cursor.", "InvalidCursor")
    headers = {}
    if start + size < len(items):
        query = {k: v[0] for k, v in ctx.query.items()}
        query["cursor"] = str(start + size)
        raw = ctx.request.scope.get("raw_path", b"").decode("latin-1").split("?")[0]
        headers["Link"] = f'<{ctx.base_url}{raw}?{urlencode(query)}>; rel="next"'
    return JSONResponse(items[start : start + size], headers=headers)


async def tree(ctx: Ctx, repo: RepoRef, rev: str, path: str) -> Response:
    commit = _resolve(ctx, repo, rev)
    folder = check_path(path, allow_empty=True)
    prefix = folder + "/" if folder else ""
    if folder and not any(p.startswith(prefix) for p in commit.files):
        raise HubHTTPError(404, "EntryNotFound", f"{folder} does not exist at {rev}")
    recursive = ctx.flag("recursive")
    items: list[dict[str, Any]] = []
    dirs: set[str] = set()
    for p, entry in sorted(commit.files.items()):
        if not p.startswith(prefix):
            continue
        rel = p[len(prefix) :].split("/")
        for depth in range(1, len(rel) if recursive else min(2, len(rel))):
            dirs.add(prefix + "/".join(rel[:depth]))
        if recursive or len(rel) == 1:
            items.append(_file_item(entry))
    items += [_dir_item(d, commit.files) for d in sorted(dirs)]
    xet_routes.add_xet_hashes(ctx, items, commit.files)
    if ctx.flag("expand"):
        _with_last_commit(ctx, repo, commit, items)
    return _page(ctx, items, ctx.hub.config.tree_page_size if not ctx.flag("expand") else 50)


async def paths_info(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    commit = _resolve(ctx, repo, rev)
    form = parse_qs((await ctx.body()).decode("utf-8", "replace"))
    items = []
    for path in form.get("paths", []):
        path = check_path(path.rstrip("/"))
        if path in commit.files:
            items.append(_file_item(commit.files[path]))
        elif any(p.startswith(path + "/") for p in commit.files):
            items.append(_dir_item(path, commit.files))
    xet_routes.add_xet_hashes(ctx, items, commit.files)
    if (form.get("expand") or ["false"])[0].lower() == "true":
        _with_last_commit(ctx, repo, commit, items)
    return JSONResponse(items)


async def list_commits(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    commit = _resolve(ctx, repo, rev)
    items = []
    for c in ctx.store.history(repo, commit.id):
        item: dict[str, Any] = {
            "id": c.id,
            "title": c.title,
            "message": c.message,
            "date": c.date,
            "authors": [{"user": c.author, "avatar": ""}],
        }
        if "formatted" in ctx.query.get("expand[]", []):
            item["formatted"] = {"title": c.title, "message": c.message}
        items.append(item)
    return _page(ctx, items, ctx.hub.config.commits_page_size)


def wants_lfs(ctx: Ctx) -> bool:
    """Whether LFS-sized files get "lfs" (Xet for clients with hf_xet, the LFS batch API otherwise).

    With Xet on (the default) every client does, as on the real Hub. With Xet off only hubkit's own
    client (``hubkit/`` in the user agent), which sends file objects through the LFS batch API; plain
    clients then get "regular" because their default (Xet) path cannot be steered to LFS by the
    server (docs/local-hub.md)."""
    return ctx.hub.config.xet or "hubkit/" in ctx.request.headers.get("user-agent", "")


async def preupload(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    discussions.pusher(ctx, repo, rev)
    commit = _resolve(ctx, repo, rev)
    body = await ctx.json()
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list) or len(files) > MAX_PREUPLOAD_FILES:
        raise bad_request(
            f"'files' must be a list of at most {MAX_PREUPLOAD_FILES} entries.", "InvalidPreupload"
        )
    lfs_ok = wants_lfs(ctx)
    rules = await run_in_threadpool(UploadRules.for_request, ctx.store, commit, body.get("gitIgnore"))
    out = []
    for item in files:
        if not isinstance(item, dict):
            raise bad_request("Each preupload entry must be an object.", "InvalidPreupload")
        path, size = check_path(item.get("path")), item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad_request(f"Invalid size for {path}.", "InvalidPreupload")
        mode = "lfs" if lfs_ok and rules.is_lfs(path, size, item.get("sample")) else "regular"
        oid = None
        existing = commit.files.get(path)
        if existing is not None:
            if mode == "lfs":
                oid = existing.sha256
            else:
                oid = (
                    existing.sha1
                    if not existing.lfs
                    else await run_in_threadpool(ctx.store.content_sha1, existing.sha256)
                )
        out.append({"path": path, "uploadMode": mode, "shouldIgnore": rules.should_ignore(path), "oid": oid})
    return JSONResponse({"files": out, "commitOid": commit.id})


async def commit(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    create_pr = ctx.flag("create_pr")
    identity = discussions.pusher(ctx, repo, rev)
    _, kind = ctx.store.resolve(repo, check_revision(rev))
    if create_pr and (kind != "branch" or rev.removeprefix("refs/heads/").startswith(PR_PREFIX)):
        raise HubHTTPError(
            404, "RevisionNotFound", f"Invalid rev id: {rev} (a pull request targets a branch)"
        )
    if kind != "branch":
        raise bad_request(f"Cannot commit to {rev!r}: it is a {kind}, not a branch.", "NotABranch")
    branch = rev.removeprefix("refs/heads/")
    parsed = await parse_commit_body(ctx.store, ctx.request.stream())
    user = identity.user
    opened: list[int] = []

    def new_pr_ref(fork: str) -> str:  # called under the repo's lock once the commit applies
        record = discussions.add_locked(
            ctx.store,
            repo,
            title=parsed.summary,
            description=parsed.description,
            is_pr=True,
            author=user,
            base=branch,
            fork=fork,
        )
        opened.append(record["num"])
        return f"{PR_PREFIX}{record['num']}"

    new = await run_in_threadpool(
        functools.partial(apply_commit, new_ref=new_pr_ref if create_pr else None),
        ctx.store,
        repo,
        branch,
        parsed,
        user,
    )
    return JSONResponse(
        {
            "success": True,
            "commitOid": new.id,
            "commitUrl": f"{ctx.base_url}/{repo.url_path}/commit/{new.id}",
            "commitMessage": new.title,
            "hookOutput": "",
            "pullRequestUrl": discussions.pr_url(ctx, repo, opened[0]) if opened else None,
        },
        background=BackgroundTask(prerender, ctx.store, repo, new),  # the pages' card, rendered once
    )


def _check_gated(ctx: Ctx, repo: RepoRef) -> None:
    """A gated repo's files are for its owners only here (nobody else was granted access): the Hub's
    401 (anonymous) or 403 (another user) with ``X-Error-Code: GatedRepo``."""
    if not ctx.store.repo_meta(repo).get("gated") or ctx.may_read(repo.namespace):
        return
    what = f"Access to {repo.type} {repo.repo_id} is restricted"
    if ctx.reader() is None:
        raise HubHTTPError(
            401,
            "GatedRepo",
            f"{what}. You must have access to it and be authenticated to access it. Please log in.",
        )
    raise HubHTTPError(
        403,
        "GatedRepo",
        f"{what} and you are not in the authorized list. Visit {ctx.base_url}/{repo.url_path} to ask for access.",
    )


async def resolve(ctx: Ctx, repo: RepoRef, rev: str, path: str) -> Response:
    commit = _resolve(ctx, repo, rev)
    _check_gated(ctx, repo)
    path = check_path(path)
    entry = commit.files.get(path)
    if entry is None:
        raise HubHTTPError(
            404, "EntryNotFound", f"{path} does not exist at {rev}", headers=(("X-Repo-Commit", commit.id),)
        )
    etag = entry.sha256 if entry.lfs else entry.sha1
    headers = {"X-Repo-Commit": commit.id, "ETag": f'"{etag}"', "Accept-Ranges": "bytes", **BLOB_HEADERS}
    if entry.lfs:
        headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
    stored = xet_routes.stored_file(ctx, entry)
    headers.update(xet_routes.download_headers(ctx, repo, commit.id, stored))
    name = path.rsplit("/", 1)[-1]
    ascii_name = header_safe(name).replace('"', "_")
    headers["Content-Disposition"] = f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)};"
    obj = ctx.store.object_path(entry.sha256)
    if not obj.is_file():
        if stored is not None:
            return xet_routes.stream_file(ctx, stored, headers)
        raise HubHTTPError(404, "EntryNotFound", f"Stored object for {path} is missing.")
    return _BlobResponse(obj, headers=headers, media_type="application/octet-stream")


# --- legacy LFS ------------------------------------------------------------------------------------
async def lfs_batch(ctx: Ctx, repo: RepoRef) -> Response:
    request = await ctx.json()
    ref = request.get("ref") if isinstance(request, dict) else None
    discussions.pusher(ctx, repo, ref.get("name") if isinstance(ref, dict) else None)
    body = batch_response(ctx.store, request, ctx.base_url, repo.url_path)
    return JSONResponse(body, media_type="application/vnd.git-lfs+json")


def _size_arg(ctx: Ctx) -> int:
    size = ctx.arg("size") or ""
    if not size.isdigit():
        raise bad_request("LFS URL lacks a valid 'size'.", "InvalidLfsUrl")
    return int(size)


async def lfs_put_part(ctx: Ctx, oid: str, part: str) -> Response:
    check_sha256(oid)
    check_signature(ctx.store, oid, "part", ctx.arg("token"))
    if not part.isdigit():
        raise bad_request("Invalid part number.", "InvalidLfsPart")
    length = ctx.request.headers.get("content-length", "")
    if not length.isdigit():
        raise HubHTTPError(411, "LengthRequired", "LFS part uploads need a Content-Length.")
    etag = await ctx.hub.lfs.put_part(oid, _size_arg(ctx), int(part), ctx.request.stream(), int(length))
    return Response(status_code=200, headers={"ETag": etag})


async def lfs_complete(ctx: Ctx, oid: str) -> Response:
    check_sha256(oid)
    check_signature(ctx.store, oid, "complete", ctx.arg("token"))
    await ctx.json(allow_empty=True)
    size = _size_arg(ctx)
    if ctx.store.object_size(oid) != size:
        await run_in_threadpool(ctx.hub.lfs.complete, oid, size)
    return JSONResponse({"success": True})


async def lfs_put_single(ctx: Ctx, oid: str) -> Response:
    check_sha256(oid)
    check_signature(ctx.store, oid, "single", ctx.arg("token"))
    await ctx.hub.lfs.put_single(oid, ctx.request.stream())
    return Response(status_code=200)


async def lfs_verify(ctx: Ctx, oid: str) -> Response:
    ctx.require_write()
    check_sha256(oid)
    ctx.hub.lfs.verify(await ctx.json())
    return JSONResponse({"success": True})
