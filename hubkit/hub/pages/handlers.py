"""The page handlers: read the request, build the view data, render its template.

Every page is a GET and changes nothing; the login form's POST is the one exception, and it only sets
the HttpOnly, SameSite=Strict session cookie (:data:`hubkit.hub.request.SESSION_COOKIE`) when the
token it was given is the hub's. A refusal (unknown repo or revision, a private repo without the token,
a bad path) becomes an HTML error page with the same headers as every page.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import RedirectResponse, Response

from hubkit.hub.catalog import list_summaries, matches
from hubkit.hub.pages import history, views
from hubkit.hub.pages.render import SECURITY_HEADERS, page
from hubkit.hub.request import SESSION_COOKIE, Ctx, session_value
from hubkit.hub.storage import RepoRef
from hubkit.hub.users import hash_token
from hubkit.hub.validation import HubHTTPError, check_path, check_revision

PageHandler = Callable[..., Awaitable[Response]]


def _common(ctx: Ctx) -> dict[str, Any]:
    return {
        "signed_in": not ctx.hub.directory.open_write and ctx.reader() is not None,
        "login_needed": not ctx.hub.directory.open_write,
        "search": ctx.arg("search") or "",
    }


def error_page(ctx: Ctx, err: HubHTTPError) -> Response:
    return page("error.html.j2", status=err.status, err=err, **_common(ctx))


def guarded(handler: PageHandler) -> PageHandler:
    """Turn refusals into HTML error pages; time the page (``Server-Timing``)."""

    async def run(ctx: Ctx, **kwargs: object) -> Response:
        start = time.perf_counter()
        try:
            response = await handler(ctx, **kwargs)
        except HubHTTPError as err:
            response = error_page(ctx, err)
        # the time spent building and rendering the page (benchmarks/bench_pages.py reads it)
        response.headers["Server-Timing"] = f"page;dur={(time.perf_counter() - start) * 1000:.2f}"
        return response

    return run


def repo_view(ctx: Ctx, repo: RepoRef, rev: str) -> views.RepoView:
    meta = ctx.readable(repo)
    commit_id, _ = ctx.store.resolve(repo, check_revision(rev))
    return views.RepoView(repo, rev, ctx.store.read_commit(repo, commit_id), bool(meta.get("private")))


def split_rev(ctx: Ctx, repo: RepoRef, rest: list[str]) -> tuple[str, str]:
    """``(revision, path)`` from the segments after ``tree``/``blob``: the revision is one segment (``%2F``
    inside it, as the Hub writes it) or, failing that, the shortest run of segments naming a ref."""
    ctx.readable(repo)
    for k in range(1, len(rest) + 1):
        rev = "/".join(rest[:k])
        try:
            ctx.store.resolve(repo, check_revision(rev))
        except HubHTTPError:
            continue
        return rev, "/".join(rest[k:])
    raise HubHTTPError(404, "RevisionNotFound", f"No revision of {repo.repo_id} at /{'/'.join(rest)}.")


@guarded
async def index(ctx: Ctx) -> Response:
    search, library, tag = ctx.arg("search"), ctx.arg("library"), ctx.arg("tag")
    filters = [f for f in (library, tag) if f]
    everything = list_summaries(ctx.store, with_private=ctx.may_read)
    repos = [s for s in everything if matches(s, author=None, search=search, filters=filters)]
    libraries = sorted({s.library for s in everything if s.library})
    return page(
        "index.html.j2",
        repos=repos,
        libraries=libraries,
        library=library or "",
        tag=tag or "",
        **_common(ctx),
    )


@guarded
async def model(ctx: Ctx, repo: RepoRef, rest: list[str]) -> Response:
    rev, folder = split_rev(ctx, repo, rest) if rest else ("main", "")
    view = repo_view(ctx, repo, rev)
    if folder:
        tree = views.tree_page(ctx.store, view, check_path(folder))
        if tree is None:
            raise HubHTTPError(404, "EntryNotFound", f"{folder} does not exist at {rev}.")
        return page("tree.html.j2", p=tree, **_common(ctx))
    return page("model.html.j2", p=views.model_page(ctx.store, view, ctx.base_url), **_common(ctx))


@guarded
async def blob(ctx: Ctx, repo: RepoRef, rest: list[str]) -> Response:
    rev, path = split_rev(ctx, repo, rest)
    view = repo_view(ctx, repo, rev)
    found = views.blob_page(ctx.store, view, check_path(path))
    if found is None:
        raise HubHTTPError(404, "EntryNotFound", f"{path} does not exist at {rev}.")
    return page("blob.html.j2", p=found, max_view=views.human_size(views.MAX_BLOB_VIEW), **_common(ctx))


@guarded
async def commits(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    try:
        number = max(int(ctx.arg("p") or 0), 0)
    except ValueError:
        number = 0
    listing = history.commits_page(ctx.store, repo_view(ctx, repo, rev), number)
    return page("commits.html.j2", p=listing, **_common(ctx))


@guarded
async def commit(ctx: Ctx, repo: RepoRef, sha: str) -> Response:
    view = repo_view(ctx, repo, sha)
    return page("commit.html.j2", p=history.commit_page(ctx.store, view), **_common(ctx))


@guarded
async def revisions(ctx: Ctx, repo: RepoRef) -> Response:
    view = repo_view(ctx, repo, "main")
    return page("revisions.html.j2", p=history.revisions_page(ctx.store, view), **_common(ctx))


@guarded
async def compare(ctx: Ctx, repo: RepoRef) -> Response:
    view = repo_view(ctx, repo, "main")
    a, b = ctx.arg("a"), ctx.arg("b") or "main"
    if not a:  # the first revision of the release (epoch order), as the revisions view lists them
        rows = history.revisions_page(ctx.store, view).rows
        a = rows[0].name if rows else "main"
    a_view, b_view = repo_view(ctx, repo, a), repo_view(ctx, repo, b)
    result = history.compare_page(ctx.store, view, a, a_view.commit, b, b_view.commit)
    return page("compare.html.j2", p=result, **_common(ctx))


@guarded
async def login_form(ctx: Ctx) -> Response:
    return page("login.html.j2", failed=False, **_common(ctx))


@guarded
async def login(ctx: Ctx) -> Response:
    """Check the token from the form and set the session cookie (the only state a page ever changes)."""
    directory = ctx.hub.directory
    form = parse_qs((await ctx.body(limit=4096)).decode("utf-8", "replace"))
    given = (form.get("token") or [""])[0].strip()
    if directory.open_write or not given or directory.identify(given) is None:
        closed = not directory.open_write
        return page("login.html.j2", status=401 if closed else 200, failed=closed, **_common(ctx))
    response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(ctx.store.secret, hash_token(given)),
        httponly=True,
        samesite="strict",
        path="/",
    )
    return response
