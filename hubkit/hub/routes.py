"""The route table of the local hub: (method, decoded path segments) -> handler.

Patterns follow docs/hub-api-subset.md §4. ``{repo}`` is always two segments; model repos have no
type prefix outside ``/api``. Unknown paths get 404 ``NotFound``; a known path with the wrong method
gets 405.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import JSONResponse, Response

from hubkit.hub import discussions, routes_admin, routes_list
from hubkit.hub import routes_files as files
from hubkit.hub import routes_repo as repo_routes
from hubkit.hub.pages import routing as pages
from hubkit.hub.request import RESERVED, Ctx, repo_from
from hubkit.hub.validation import REPO_TYPES, HubHTTPError, repo_not_found
from hubkit.hub.xet import routes as xet_routes

Handler = Callable[[Ctx], Awaitable[Response]]


def _pick(method: str, table: dict[str, Any], **kwargs: Any) -> Handler:
    if method not in table:
        raise HubHTTPError(405, "MethodNotAllowed", f"{method} is not allowed here; use {', '.join(table)}.")
    handler: Handler = functools.partial(table[method], **kwargs)
    return handler


async def _harnesses(ctx: Ctx) -> Response:
    return JSONResponse({"standardEnvVars": [], "harnesses": {}})


# Repo actions of /api/{type}s/{repo}/{action}/...: with these after ONE segment, the id has no namespace.
_ACTIONS = frozenset(
    {"revision", "tree", "refs", "branch", "tag", "paths-info", "commits", "preupload", "commit", "settings"}
    | {"super-squash", "discussions"}
)


def _one_part_repo(rest: list[str]) -> bool:
    """Whether ``/api/{type}s/{rest}`` names a repo id without a namespace (``gpt2``-style).

    Example:
        >>> _one_part_repo([]), _one_part_repo(["revision", "main"]), _one_part_repo(["x", "revision"])
        (True, True, False)
    """
    return not rest or (rest[0] in _ACTIONS and len(rest) >= 2 and rest[1] not in _ACTIONS)


_DISCUSSION_ACTIONS = {
    "comment": discussions.comment,
    "status": discussions.change_status,
    "merge": discussions.merge,
}


def dispatch(method: str, seg: list[str]) -> Handler:
    """Find the handler for a request (raises 404/405 :class:`HubHTTPError`)."""
    if method == "HEAD" and not (len(seg) >= 4 and "resolve" in seg[:4]):
        method = "GET"  # HEAD on anything else behaves as GET without body (Starlette drops the body)
    n = len(seg)
    if n >= 2 and seg[0] == "api":
        if seg[1:] == ["agent-harnesses"]:
            return _pick(method, {"GET": _harnesses})
        if seg[1:] == ["models"]:
            return _pick(method, {"GET": routes_list.list_models})
        if seg[1:] == ["whoami-v2"]:
            return _pick(method, {"GET": repo_routes.whoami})
        if seg[1:] == ["repos", "create"]:
            return _pick(method, {"POST": repo_routes.create_repo})
        if seg[1:] == ["repos", "move"]:
            return _pick(method, {"POST": routes_admin.move_repo})
        if seg[1:] == ["repos", "delete"]:
            return _pick(method, {"DELETE": repo_routes.delete_repo})
        if seg[1:] == ["validate-yaml"]:
            return _pick(method, {"POST": repo_routes.validate_yaml})
        if seg[1] in REPO_TYPES and _one_part_repo(seg[3:]):
            raise repo_not_found()  # a repo id without a namespace: none exists here (the Hub's answer)
        if n >= 4 and seg[1] in REPO_TYPES:
            repo = repo_from(seg[1], seg[2], seg[3])
            rest = seg[4:]
            if not rest:
                return _pick(method, {"GET": repo_routes.repo_info}, repo=repo, rev=None)
            action, args = rest[0], rest[1:]
            if action.startswith("xet-"):
                return xet_routes.token_route(method, action, repo, args)
            if action == "discussions" and not args:
                listing = {"GET": discussions.list_discussions, "POST": discussions.create_discussion}
                return _pick(method, listing, repo=repo)
            if action == "discussions" and len(args) == 1:
                return _pick(method, {"GET": discussions.discussion_details}, repo=repo, num=args[0])
            if action == "discussions" and len(args) == 2 and args[1] in _DISCUSSION_ACTIONS:
                return _pick(method, {"POST": _DISCUSSION_ACTIONS[args[1]]}, repo=repo, num=args[0])
            if action == "settings" and not args:
                return _pick(method, {"PUT": routes_admin.update_settings}, repo=repo)
            if action == "refs" and not args:
                return _pick(method, {"GET": repo_routes.list_refs}, repo=repo)
            if action == "tree" and args:
                return _pick(method, {"GET": files.tree}, repo=repo, rev=args[0], path="/".join(args[1:]))
            if len(args) == 1:
                table: dict[str, dict[str, Any]] = {
                    "revision": {"GET": repo_routes.repo_info},
                    "branch": {"POST": repo_routes.create_branch, "DELETE": repo_routes.delete_branch},
                    "tag": {"POST": repo_routes.create_tag, "DELETE": repo_routes.delete_tag},
                    "paths-info": {"POST": files.paths_info},
                    "commits": {"GET": files.list_commits},
                    "preupload": {"POST": files.preupload},
                    "commit": {"POST": files.commit},
                    "super-squash": {"POST": routes_admin.super_squash},
                }
                if action in table:
                    return _pick(method, table[action], repo=repo, rev=args[0])
        raise HubHTTPError(404, "NotFound", f"No such API endpoint: /{'/'.join(seg)}")
    if n >= 2 and seg[0] == xet_routes.CAS_PREFIX:  # /_xet/<store tag>/v1/… (see xet_routes.cas_url)
        return xet_routes.dispatch(method, seg[1:] if seg[1] in ("v1", "v2") else seg[2:])
    if seg == ["v1", "telemetry"] and method == "POST":  # hf_xet posts it to the CAS URL's origin
        return xet_routes.dispatch(method, seg)
    if n >= 2 and seg[0] == "_lfs":
        oid, rest = seg[1], seg[2:]
        if not rest:
            return _pick(method, {"PUT": files.lfs_put_single}, oid=oid)
        if len(rest) == 2 and rest[0] == "part":
            return _pick(method, {"PUT": files.lfs_put_part}, oid=oid, part=rest[1])
        if rest == ["complete"]:
            return _pick(method, {"POST": files.lfs_complete}, oid=oid)
        if rest == ["verify"]:
            return _pick(method, {"POST": files.lfs_verify}, oid=oid)
        raise HubHTTPError(404, "NotFound", "No such LFS endpoint.")
    page = pages.dispatch(method, seg)  # the browsable pages (hubkit/hub/pages), GET only but login
    if page is not None:
        return page
    # Web-side URLs: [{type}s/]{ns}/{name}/resolve/... and {ns}/{name}.git/info/lfs/objects/batch
    if n >= 1 and seg[0] in REPO_TYPES and seg[0] != "models":
        url_type, seg = seg[0], seg[1:]
    elif n >= 1 and seg[0] in RESERVED:
        raise HubHTTPError(404, "NotFound", f"No such endpoint: /{'/'.join(seg)}")
    else:
        url_type = "models"
    if len(seg) >= 5 and seg[2:] == ["info", "lfs", "objects", "batch"] and seg[1].endswith(".git"):
        repo = repo_from(url_type, seg[0], seg[1].removesuffix(".git"))
        return _pick(method, {"POST": files.lfs_batch}, repo=repo)
    if len(seg) >= 4 and seg[1] == "resolve" and not (len(seg) >= 5 and seg[2] == "resolve"):
        raise repo_not_found()  # /{name}/resolve/{rev}/{path}: a repo id without a namespace
    if len(seg) >= 5 and seg[2] == "resolve":
        repo = repo_from(url_type, seg[0], seg[1])
        path = "/".join(seg[4:])
        return _pick(method, {"GET": files.resolve, "HEAD": files.resolve}, repo=repo, rev=seg[3], path=path)
    raise HubHTTPError(404, "NotFound", f"No such endpoint: /{'/'.join(seg)}")
