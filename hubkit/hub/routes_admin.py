"""Endpoints that administer a repo: settings, move, super-squash (the work is in :mod:`repo_admin`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from hubkit.hub import repo_admin
from hubkit.hub.request import Ctx
from hubkit.hub.storage import RepoRef
from hubkit.hub.validation import bad_request, check_repo_part, check_repo_type_name, check_revision


async def update_settings(ctx: Ctx, repo: RepoRef) -> Response:
    ctx.writable(repo)
    body = await ctx.json()
    await run_in_threadpool(repo_admin.update_settings, ctx.store, repo, body)
    return JSONResponse({})


def _repo_id(value: object, repo_type: str) -> RepoRef:
    if not isinstance(value, str) or value.count("/") != 1:
        raise bad_request(f"Invalid repo id {value!r}: use namespace/name.", "InvalidRepoId")
    namespace, name = value.split("/")
    return RepoRef(repo_type, check_repo_part(namespace, "namespace"), check_repo_part(name))


async def move_repo(ctx: Ctx) -> Response:
    ctx.require_write()
    body = await ctx.json()
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.", "InvalidJson")
    repo_type = check_repo_type_name(body.get("type"))
    source = ctx.store.canonical(_repo_id(body.get("fromRepo"), repo_type))
    target = _repo_id(body.get("toRepo"), repo_type)
    ctx.writable(source)
    ctx.require_write_to(target.namespace)
    moved = await run_in_threadpool(repo_admin.move_repo, ctx.store, source, target)
    return JSONResponse({"url": f"{ctx.base_url}/{moved.url_path}"})


async def super_squash(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    identity = ctx.writable(repo)
    body = await ctx.json(allow_empty=True)
    message = body.get("message") if isinstance(body, dict) else None
    branch = check_revision(rev).removeprefix("refs/heads/")
    if not isinstance(message, str) or not message.strip():
        message = f"Super-squash branch '{branch}'"
    commit = await run_in_threadpool(repo_admin.super_squash, ctx.store, repo, branch, message, identity.user)
    return JSONResponse({"commitId": commit.id})
