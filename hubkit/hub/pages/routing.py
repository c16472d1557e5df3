"""Which page a path names, with the Hub's URL scheme (model repos have no type prefix).

``/``, ``/login``, ``/_pages/pages.css``, ``/{ns}/{name}``, ``/{ns}/{name}/tree/{rev}[/{path}]``,
``/{ns}/{name}/blob/{rev}/{path}``, ``/{ns}/{name}/commits/{rev}``, ``/{ns}/{name}/commit/{sha}``, and
hubkit's own ``/{ns}/{name}/revisions`` and ``/{ns}/{name}/compare?a=REV&b=REV``. Anything else is not a
page (``None``): the API routes keep it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from hubkit.hub.pages import handlers
from hubkit.hub.pages.render import css_response, favicon_response
from hubkit.hub.request import RESERVED, Ctx, repo_from
from hubkit.hub.validation import HubHTTPError

Handler = Callable[[Ctx], Awaitable[Response]]


async def _css(ctx: Ctx) -> Response:
    return css_response()


async def _favicon(ctx: Ctx) -> Response:
    return favicon_response()


def _get(method: str, handler: Callable[..., Awaitable[Response]], **kwargs: object) -> Handler:
    if method not in ("GET", "HEAD"):
        raise HubHTTPError(405, "MethodNotAllowed", f"{method} is not allowed on a page; use GET.")
    bound: Handler = functools.partial(handler, **kwargs)
    return bound


def dispatch(method: str, seg: list[str]) -> Handler | None:
    """The page handler for ``seg`` (decoded path segments), ``None`` when the path is not a page."""
    if seg in ([""], []):
        return _get(method, handlers.index)
    if seg == ["login"]:
        return handlers.login if method == "POST" else _get(method, handlers.login_form)
    if seg == ["_pages", "pages.css"]:
        return _get(method, _css)
    if seg in (["_pages", "favicon.svg"], ["favicon.ico"]):
        return _get(method, _favicon)
    if len(seg) < 2 or seg[0] in RESERVED:
        return None
    rest = seg[2:]
    if rest in ([], [""]):
        return _get(method, handlers.model, repo=repo_from("models", seg[0], seg[1]), rest=[])
    action, args = rest[0], [a for a in rest[1:]]
    if args and args[-1] == "":
        args = args[:-1]  # a trailing slash
    table = {
        "tree": (handlers.model, 1),
        "blob": (handlers.blob, 2),
        "commits": (handlers.commits, 1),
        "commit": (handlers.commit, 1),
        "revisions": (handlers.revisions, 0),
        "compare": (handlers.compare, 0),
    }
    if action not in table:
        return None
    handler, least = table[action]
    if len(args) < least or (least == 0 and args):
        return None
    repo = repo_from("models", seg[0], seg[1])
    if action in ("tree", "blob"):
        return _get(method, handler, repo=repo, rest=args)
    if action in ("commits", "commit"):
        return _get(method, handler, repo=repo, **{"rev" if action == "commits" else "sha": "/".join(args)})
    return _get(method, handler, repo=repo)
