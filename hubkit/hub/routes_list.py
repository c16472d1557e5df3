"""``GET /api/models``: the listing ``HfApi.list_models`` and ``hf models ls`` read.

Query parameters as huggingface_hub 2.4.0 sends them (``hf_api.py`` ``list_models``): ``author``,
``search`` (substring of the id, case-insensitive), ``filter`` (repeated; every one must be a tag),
``sort`` (``lastModified``, ``createdAt``, ``id``; ``downloads``/``likes``/``trendingScore`` are all 0
here and keep the newest first), ``direction`` (``-1`` default, ``1`` ascending), ``limit`` (page size,
at most 1000), ``full``/``cardData``. More results than a page: a ``Link: <…&cursor=N>; rel="next"``
header (``utils/_pagination.py`` follows it). Private repos only for a caller with the token.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from hubkit.hub.catalog import list_summaries, matches
from hubkit.hub.request import Ctx
from hubkit.hub.validation import bad_request

MAX_PAGE = 1000
_SORT_KEYS = {"lastModified": "last_modified", "createdAt": "created_at", "id": "id"}


def _int(ctx: Ctx, name: str, default: int) -> int:
    raw = ctx.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"'{name}' must be an integer, got {raw[:40]!r}.", "InvalidParameter") from None


async def list_models(ctx: Ctx) -> Response:
    ctx.check_read_token()
    summaries = list_summaries(ctx.store, with_private=ctx.may_read)
    filters = ctx.query.get("filter", [])
    chosen = [
        s
        for s in summaries
        if matches(s, author=ctx.arg("author"), search=ctx.arg("search"), filters=filters)
    ]
    sort = ctx.arg("sort") or "lastModified"
    field = _SORT_KEYS.get(sort, "last_modified")
    descending = _int(ctx, "direction", -1) < 0
    if field == "id":
        chosen.sort(key=lambda s: s.repo.repo_id.lower(), reverse=descending)
    else:
        chosen.sort(key=lambda s: getattr(s, field), reverse=descending)
    size = min(max(_int(ctx, "limit", MAX_PAGE), 1), MAX_PAGE)
    start = _int(ctx, "cursor", 0)
    if start < 0:
        raise bad_request("Invalid pagination cursor.", "InvalidCursor")
    page = chosen[start : start + size]
    full, card = ctx.flag("full"), ctx.flag("cardData")
    headers = {}
    if start + size < len(chosen):
        query = [(k, v) for k, values in ctx.query.items() if k != "cursor" for v in values]
        query.append(("cursor", str(start + size)))
        headers["Link"] = f'<{ctx.base_url}/api/models?{urlencode(query)}>; rel="next"'
    return JSONResponse([s.api_item(full=full, card_data=card) for s in page], headers=headers)
