"""Repo-level endpoints: whoami, create/delete repo, repo info, refs, branches, tags, validate-yaml."""

from __future__ import annotations

from typing import Any

import yaml
from starlette.responses import JSONResponse, Response

from hubkit.hub.card_check import metadata_problems
from hubkit.hub.request import Ctx
from hubkit.hub.storage import DEFAULT_BRANCH, RepoRef, lfs_pointer
from hubkit.hub.validation import (
    HubHTTPError,
    bad_request,
    check_branch_name,
    check_repo_part,
    check_repo_type_name,
    check_revision,
)
from hubkit.layout import README


def front_matter(text: str) -> dict[str, Any] | None:
    """The YAML front matter of a README as a dict, ``None`` if absent; ValueError if invalid.

    Example:
        >>> front_matter("---\\nlicense: mit\\n---\\nhi")
        {'license': 'mit'}
    """
    text = text.lstrip()  # the client's REGEX_YAML_BLOCK allows leading whitespace before the first '---'
    if not text.startswith("---"):
        return None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            try:
                data = yaml.safe_load("\n".join(lines[1:i]))
            except yaml.YAMLError as exc:
                raise ValueError(f"invalid YAML front matter: {exc}") from None
            if data is None:
                return {}
            if not isinstance(data, dict):
                raise ValueError("the YAML front matter must be a mapping")
            return data
    raise ValueError("the YAML front matter is not closed by a '---' line")


async def whoami(ctx: Ctx) -> Response:
    identity = ctx.identity() if ctx.bearer() is not None else None
    if identity is None:
        raise HubHTTPError(401, "Unauthorized", "Invalid user token.")
    orgs = [ctx.hub.directory.orgs[name] for name in identity.orgs]
    return JSONResponse(
        {
            "type": "user",
            "name": identity.user,
            "fullname": identity.fullname,
            "orgs": [{"type": "org", "name": o.name, "fullname": o.fullname} for o in orgs],
            "auth": {
                "type": "access_token",
                "accessToken": {"displayName": identity.token_name, "role": identity.role},
            },
        }
    )


def _repo_from_body(ctx: Ctx, body: Any, *, follow_moves: bool = True) -> tuple[RepoRef, dict[str, Any]]:
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.", "InvalidJson")
    name, org = body.get("name"), body.get("organization")
    repo_type = check_repo_type_name(body.get("type"))
    namespace = ctx.hub.directory.default_user if org is None else org
    if org is None and (identity := ctx.identity()) is not None:
        namespace = identity.user
    repo = RepoRef(repo_type, check_repo_part(namespace, "namespace"), check_repo_part(name))
    return ctx.store.canonical(repo, follow_moves=follow_moves), body


def space_readme(name: str, sdk: object) -> bytes:
    """The README.md the Hub writes into a new Space: its settings live in the card's front matter.

    Example:
        >>> space_readme("demo", "static").decode().splitlines()[:3]
        ['---', 'title: demo', 'emoji: 🚀']
    """
    sdk_line = f"sdk: {sdk}\n" if isinstance(sdk, str) and sdk.isidentifier() else ""
    text = f"---\ntitle: {name}\nemoji: 🚀\ncolorFrom: blue\ncolorTo: gray\n{sdk_line}pinned: false\n---\n"
    return (
        text
        + "\nCheck out the configuration reference at https://huggingface.co/docs/hub/spaces-config-reference\n"
    ).encode()


async def create_repo(ctx: Ctx) -> Response:
    ctx.require_write()
    repo, body = _repo_from_body(ctx, await ctx.json(), follow_moves=False)
    identity = ctx.require_write_to(repo.namespace)
    org = ctx.hub.directory.orgs.get(repo.namespace)
    default = "private" if body.get("private") is True or (org and org.private_by_default) else "public"
    visibility = body.get("visibility", default)
    if visibility not in ("public", "private", "protected"):
        raise bad_request(f"Unknown visibility {visibility!r}.", "InvalidVisibility")
    url = f"{ctx.base_url}/{repo.url_path}"
    extra = {README: space_readme(repo.name, body.get("sdk"))} if repo.type == "space" else None
    created = ctx.store.create_repo(
        repo, private=visibility != "public", author=identity.user, extra_files=extra
    )
    if not created:
        return JSONResponse(
            {"error": "You already created this model repo", "url": url},
            status_code=409,
            headers={"X-Error-Code": "RepoExists", "X-Error-Message": "You already created this repo"},
        )
    return JSONResponse({"url": url, "name": repo.repo_id, "id": repo.repo_id})


async def delete_repo(ctx: Ctx) -> Response:
    ctx.require_write()
    repo, _ = _repo_from_body(ctx, await ctx.json())
    ctx.writable(repo)
    ctx.store.delete_repo(repo)
    return JSONResponse({})


async def validate_yaml(ctx: Ctx) -> Response:
    # The client calls response.json() before looking at the status: every answer here is JSON.
    try:
        body = await ctx.json()
    except HubHTTPError as err:
        return JSONResponse({"errors": [{"message": err.message}]}, status_code=err.status)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str):
        return JSONResponse({"errors": [{"message": "'content' must be a string"}]}, status_code=400)
    try:
        data = front_matter(content)
    except ValueError as exc:
        return JSONResponse({"errors": [{"message": str(exc)}], "warnings": []}, status_code=400)
    errors, warnings = metadata_problems(data)
    return JSONResponse(
        {"errors": [{"message": m} for m in errors], "warnings": [{"message": m} for m in warnings]},
        status_code=400 if errors else 200,
    )


def card_data(ctx: Ctx, repo: RepoRef, files: dict[str, Any]) -> dict[str, Any] | None:
    entry = files.get(README)
    if entry is None or entry.size > 1024 * 1024:
        return None
    try:
        return front_matter(ctx.store.object_path(entry.sha256).read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None  # a broken card must not break repo_info


async def repo_info(ctx: Ctx, repo: RepoRef, rev: str | None) -> Response:
    meta = ctx.readable(repo)
    commit_id, _ = ctx.store.resolve(repo, check_revision(rev) if rev is not None else DEFAULT_BRANCH)
    commit = ctx.store.read_commit(repo, commit_id)
    with_blobs = ctx.flag("blobs")
    siblings = []
    for path, entry in sorted(commit.files.items()):
        item: dict[str, Any] = {"rfilename": path}
        if with_blobs:
            item.update(size=entry.size, blobId=entry.sha1)
            if entry.lfs:
                pointer_size = len(lfs_pointer(entry.sha256, entry.size))
                item["lfs"] = {"sha256": entry.sha256, "size": entry.size, "pointerSize": pointer_size}
        siblings.append(item)
    cdata = card_data(ctx, repo, commit.files)
    info: dict[str, Any] = {
        "_id": commit_id[:24],
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": repo.namespace,
        "sha": commit_id,
        "lastModified": commit.date,
        "createdAt": meta["createdAt"],
        "private": bool(meta.get("private")),
        "gated": meta.get("gated", False),
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": list((cdata or {}).get("tags") or []) if isinstance((cdata or {}).get("tags"), list) else [],
        "siblings": siblings,
        "usedStorage": sum(e.size for e in commit.files.values()),
    }
    if cdata is not None:
        info["cardData"] = cdata
        for key in ("library_name", "pipeline_tag"):
            if isinstance(cdata.get(key), str):
                info[key] = cdata[key]
    return JSONResponse(info)


async def list_refs(ctx: Ctx, repo: RepoRef) -> Response:
    ctx.readable(repo)
    refs = ctx.store.read_refs(repo)
    body: dict[str, Any] = {
        "branches": [
            {"name": n, "ref": f"refs/heads/{n}", "targetCommit": c}
            for n, c in sorted(refs["branches"].items())
            if not n.startswith("refs/pr/")
        ],
        "converts": [],
        "tags": [
            {"name": n, "ref": f"refs/tags/{n}", "targetCommit": c} for n, c in sorted(refs["tags"].items())
        ],
    }
    if ctx.flag("include_prs"):
        body["pullRequests"] = [
            {"name": n.removeprefix("refs/"), "ref": n, "targetCommit": c}
            for n, c in sorted(refs["branches"].items())
            if n.startswith("refs/pr/")
        ]
    return JSONResponse(body)


def _conflict(message: str) -> HubHTTPError:
    return HubHTTPError(409, "RefExists", message)


async def create_branch(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    ctx.writable(repo)
    branch = check_branch_name(rev)
    body = await ctx.json(allow_empty=True)
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.", "InvalidJson")
    start = body.get("startingPoint") or DEFAULT_BRANCH
    if not isinstance(start, str):
        raise bad_request("'startingPoint' must be a string.", "InvalidRevision")
    _add_ref(ctx, repo, "branches", branch, start)
    return JSONResponse({})


async def delete_branch(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    ctx.writable(repo)
    branch = check_revision(rev)
    if branch == DEFAULT_BRANCH:
        raise HubHTTPError(403, "CannotDeleteDefaultBranch", f"Cannot delete refs/heads/{DEFAULT_BRANCH}")
    _remove_ref(ctx, repo, "branches", branch)
    return JSONResponse({})


async def create_tag(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    ctx.writable(repo)
    body = await ctx.json()
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.", "InvalidJson")
    ctx.store.resolve(repo, check_revision(rev))  # the Hub checks the revision before the tag name
    tag = check_branch_name(body.get("tag"))
    _add_ref(ctx, repo, "tags", tag, rev)
    return JSONResponse({})


async def delete_tag(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    ctx.writable(repo)
    tag = check_revision(rev)
    _remove_ref(ctx, repo, "tags", tag)
    return JSONResponse({})


_REF_PREFIX = {"branches": "refs/heads/", "tags": "refs/tags/"}


def _add_ref(ctx: Ctx, repo: RepoRef, kind: str, name: str, revision: str) -> None:
    """Point the new branch or tag ``name`` (``kind``: "branches" / "tags") at ``revision``, under the lock.

    Branches and tags are separate namespaces, as in git and on the Hub (``refs/heads/x`` and
    ``refs/tags/x`` may both exist); a name taken in its own kind is a 409; an unknown revision a 404.
    """
    with ctx.store.lock(repo):
        refs = ctx.store.read_refs(repo)
        if name in refs[kind]:
            raise _conflict(f"Reference {_REF_PREFIX[kind]}{name} already exists")
        commit_id, _ = ctx.store.resolve(repo, check_revision(revision))
        refs[kind][name] = commit_id
        ctx.store.write_refs(repo, refs)


def _remove_ref(ctx: Ctx, repo: RepoRef, kind: str, name: str) -> None:
    """Delete branch or tag ``name`` under the lock; 404 RevisionNotFound "Invalid rev id" (the Hub's)."""
    with ctx.store.lock(repo):
        refs = ctx.store.read_refs(repo)
        if name not in refs[kind]:
            raise HubHTTPError(404, "RevisionNotFound", f"Invalid rev id: {name}")
        del refs[kind][name]
        ctx.store.write_refs(repo, refs)
