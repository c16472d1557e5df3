"""HTTP side of the local hub's Xet support: token endpoints, the CAS API and Xet-aware downloads.

The CAS lives under ``{endpoint}/_xet`` (the ``casUrl`` handed out with tokens), so the client calls
``{casUrl}/v1/...`` (Xet spec "CAS API"):

| Request | Answer |
|---|---|
| ``GET /v1/chunks/default/{chunk}`` | a shard listing the xorbs of the upload that had the chunk, or 404 |
| ``POST /v1/xorbs/default/{xorb}`` | ``{"was_inserted": bool}``; 400 when malformed or hashing to another xorb |
| ``POST /v1/shards`` | ``{"result": 0 or 1}``; 400 when malformed or failing verification |
| ``GET /v1/reconstructions/{file}`` (``Range``) | terms and signed fetch URLs; 404 unknown, 416 past the end |
| ``GET /v1/fetch/{xorb}?e=&s=`` (``Range``) | bytes of a stored xorb (signed URL, no token) |
| ``POST /v1/telemetry`` | 200, ignored |
| ``/v1/xorb-grants/…``, ``/v2/shards``, ``/v2/reconstructions/…`` | 404: hf_xet falls back to the v1 calls above |

Tokens: 401 when missing, forged or expired; 403 when a read token is used to upload.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from hubkit.hub import discussions
from hubkit.hub.request import Ctx, Handler
from hubkit.hub.storage import FileEntry, RepoRef
from hubkit.hub.validation import HubHTTPError, bad_request, check_revision
from hubkit.hub.xet import tokens
from hubkit.hub.xet.cas import StoredFile, XetStore
from hubkit.hub.xet.hashing import hash_from_hex, hash_hex
from hubkit.hub.xet.shard import MAX_SHARD_BYTES, dedup_shard, parse_shard
from hubkit.hub.xet.verify import ShardRefused, record_shard, verify_shard
from hubkit.hub.xet.xorb import MAX_XORB_BODY, XetFormatError

CAS_PREFIX = "_xet"
FETCH_TTL_S = 3600
_STREAM_PIECE = 1024 * 1024


def _xet(ctx: Ctx) -> XetStore:
    if not ctx.hub.config.xet:
        raise HubHTTPError(
            404, "XetNotSupported", "Xet storage is switched off on this hub; use LFS uploads."
        )
    return ctx.store.xet


def cas_url(ctx: Ctx) -> str:
    """The CAS URL the Xet tokens announce: ``/_xet/<store tag>``, one per data dir.

    hf_xet keys its on-disk shard cache by this URL. A hub started on the same port with another data dir
    (a fresh test hub, a wiped staging hub) therefore never meets a client cache that claims chunks of
    the other store, which would make the client skip uploading xorbs this store lacks.
    """
    return f"{ctx.base_url}/{CAS_PREFIX}/{store_tag(ctx.store.secret)}"


def store_tag(secret: bytes) -> str:
    """A stable name for a store, derived from (and revealing nothing of) its secret."""
    return hashlib.sha256(b"hubkit xet cas url\0" + secret).hexdigest()[:16]


# --- token endpoints (Hub side) --------------------------------------------------------------------
async def write_token(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    _xet(ctx)
    discussions.pusher(ctx, repo, rev)
    return _token(ctx, repo, "write")


async def read_token(ctx: Ctx, repo: RepoRef, rev: str) -> Response:
    _xet(ctx)
    ctx.readable(repo)
    ctx.store.resolve(repo, check_revision(rev))
    return _token(ctx, repo, "read")


def _token(ctx: Ctx, repo: RepoRef, scope: str) -> Response:
    minted = tokens.mint(
        ctx.store.secret, scope, f"{repo.type}:{repo.repo_id}", ttl_s=ctx.hub.config.xet_token_ttl_s
    )
    url = cas_url(ctx)
    headers = {
        "X-Xet-Cas-Url": url,
        "X-Xet-Access-Token": minted.token,
        "X-Xet-Token-Expiration": str(minted.expires),
    }
    return JSONResponse({"casUrl": url, "accessToken": minted.token, "exp": minted.expires}, headers=headers)


def token_route(method: str, action: str, repo: RepoRef, args: list[str]) -> Handler:
    """The handler of ``/api/{type}s/{repo}/xet-{read|write}-token/{rev}``."""
    table = {"xet-write-token": write_token, "xet-read-token": read_token}
    if action not in table or len(args) != 1:
        raise HubHTTPError(404, "NotFound", f"No such Xet endpoint: {action}")
    if method != "GET":
        raise HubHTTPError(405, "MethodNotAllowed", f"{method} is not allowed here; use GET.")
    handler: Handler = functools.partial(table[action], repo=repo, rev=args[0])  # the app canonicalises repo
    return handler


# --- CAS ---------------------------------------------------------------------------------------------
def _grant(ctx: Ctx, need: str) -> tokens.XetGrant:
    try:
        return tokens.check(ctx.store.secret, ctx.bearer(), need)
    except tokens.TokenRefused as err:
        code = "Unauthorized" if err.status == 401 else "Forbidden"
        raise HubHTTPError(err.status, code, err.message) from None


def _hash_arg(text: str, what: str) -> bytes:
    try:
        return hash_from_hex(text)
    except ValueError:
        raise bad_request(
            f"Malformed {what} hash {text[:80]!r}: expected 64 lowercase hex digits.", "InvalidHash"
        ) from None


def _not_here(what: str) -> Handler:
    async def handler(ctx: Ctx) -> Response:
        raise HubHTTPError(404, "NotFound", f"{what} is not offered by this CAS; use the v1 API.")

    return handler


def dispatch(method: str, seg: list[str]) -> Handler:
    """Route ``/_xet/...`` (``seg`` without the prefix)."""
    route: tuple[str, Any, tuple[Any, ...]] | None = None
    if seg[:2] == ["v1", "chunks"] and len(seg) == 4:
        route = ("GET", dedup_query, (seg[2], seg[3]))
    elif seg[:2] == ["v1", "xorbs"] and len(seg) == 4:
        route = ("POST", upload_xorb, (seg[2], seg[3]))
    elif seg == ["v1", "shards"]:
        route = ("POST", upload_shard, ())
    elif seg[:2] == ["v1", "reconstructions"] and len(seg) == 3:
        route = ("GET", reconstruction, (seg[2],))
    elif seg[:2] == ["v1", "fetch"] and len(seg) == 3:
        route = ("GET", fetch_xorb, (seg[2],))
    elif seg == ["v1", "telemetry"]:
        route = ("POST", telemetry, ())
    elif seg[:2] in (
        ["v1", "xorb-grants"],
        ["v1", "xorb-commits"],
        ["v2", "shards"],
        ["v2", "reconstructions"],
    ):
        return _not_here("/".join(seg[:2]))
    if route is None:
        raise HubHTTPError(404, "NotFound", f"No such CAS endpoint: /{'/'.join(seg)}")
    allowed, handler, args = route
    if method != allowed and not (allowed == "GET" and method == "HEAD"):
        raise HubHTTPError(405, "MethodNotAllowed", f"{method} is not allowed here; use {allowed}.")

    async def call(ctx: Ctx) -> Response:
        response: Response = await handler(ctx, *args)
        return response

    return call


async def telemetry(ctx: Ctx) -> Response:
    _xet(ctx)
    _grant(ctx, "read")
    await ctx.body()
    return JSONResponse({})


async def dedup_query(ctx: Ctx, prefix: str, chunk_hex: str) -> Response:
    xet = _xet(ctx)
    _grant(ctx, "read")
    chunk = _hash_arg(chunk_hex, "chunk")
    if prefix not in ("default", "default-merkledb"):  # hf_xet 1.8 sends "default", the spec names the other
        raise bad_request(f"Unknown global dedup prefix {prefix!r}; use default.", "InvalidPrefix")
    indexes = await run_in_threadpool(xet.dedup_xorbs, chunk)
    if not indexes:
        raise HubHTTPError(404, "NotFound", "Chunk not tracked by global deduplication.")
    return Response(dedup_shard(indexes), media_type="application/octet-stream")


async def upload_xorb(ctx: Ctx, prefix: str, xorb_hex: str) -> Response:
    xet = _xet(ctx)
    _grant(ctx, "write")
    xorb = _hash_arg(xorb_hex, "xorb")
    if prefix != "default":
        raise bad_request(f"Unknown xorb prefix {prefix!r}; use default.", "InvalidPrefix")
    declared = ctx.request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_XORB_BODY):
        raise HubHTTPError(413, "PayloadTooLarge", f"A xorb upload may not exceed {MAX_XORB_BODY} bytes.")
    tmp = xet.temp_path()
    received = 0
    try:
        with open(tmp, "wb") as f:
            async for piece in ctx.request.stream():
                received += len(piece)
                if received > MAX_XORB_BODY:
                    raise HubHTTPError(
                        413, "PayloadTooLarge", f"A xorb upload may not exceed {MAX_XORB_BODY} bytes."
                    )
                f.write(piece)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        xet.stats.add(xorb_bytes_received=received)
    try:
        inserted = await run_in_threadpool(xet.add_xorb, tmp, xorb)
    except XetFormatError as err:
        raise bad_request(f"Xorb refused: {err}", "InvalidXorb") from None
    return JSONResponse({"was_inserted": inserted})


async def upload_shard(ctx: Ctx) -> Response:
    xet = _xet(ctx)
    _grant(ctx, "write")
    body = await ctx.body(limit=MAX_SHARD_BYTES)
    try:
        shard = parse_shard(body)
    except XetFormatError as err:
        raise bad_request(f"Shard refused: {err}", "InvalidShard") from None
    del body
    try:
        verified = await run_in_threadpool(verify_shard, xet, shard)
    except ShardRefused as err:
        raise bad_request(f"Shard refused: {err.message}", err.code) from None
    except XetFormatError as err:  # a stored xorb went bad under us
        raise bad_request(f"Shard refused: {err}", "InvalidShard") from None
    await run_in_threadpool(record_shard, xet, verified)
    return JSONResponse({"result": 1 if verified.new_files or shard.xorbs else 0})


# --- downloads ---------------------------------------------------------------------------------------
def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` of a single ``bytes=`` range, None without one; 416 when unsatisfiable.

    Example:
        >>> parse_range("bytes=10-19", 100), parse_range("bytes=-5", 100)
        ((10, 20), (95, 100))
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    first, sep, last = spec.strip().partition("-")
    try:
        if unit.strip() != "bytes" or not sep or "," in spec:
            raise ValueError
        if not first:
            start, end = max(size - int(last), 0), size
        else:
            start = int(first)
            end = min(int(last) + 1, size) if last else size
    except ValueError:
        raise bad_request(f"Unsupported Range header {header[:80]!r}.", "InvalidRange") from None
    if start >= size or start >= end:
        raise HubHTTPError(
            416,
            "RangeNotSatisfiable",
            f"Range {header[:80]!r} is outside 0..{size}.",
            headers=(("Content-Range", f"bytes */{size}"),),
        )
    return start, end


def _sign_fetch(secret: bytes, xorb_hex: str, expires: int) -> str:
    return hmac.new(secret, f"xet-fetch:{xorb_hex}:{expires}".encode(), hashlib.sha256).hexdigest()[:40]


async def reconstruction(ctx: Ctx, file_hex: str) -> Response:
    xet = _xet(ctx)
    _grant(ctx, "read")
    _hash_arg(file_hex, "file")
    stored = await run_in_threadpool(xet.file_record, file_hex)
    if stored is None:
        raise HubHTTPError(404, "NotFound", f"No file {file_hex} in this CAS.")
    span = parse_range(ctx.request.headers.get("range"), stored.size)
    start, end = span if span is not None else (0, stored.size)
    expires = int(time.time()) + FETCH_TTL_S
    terms: list[dict[str, Any]] = []
    fetch: dict[str, list[dict[str, Any]]] = {}
    offset = first_offset = 0
    for term in stored.terms:
        if offset >= end:
            break
        if offset + term.size <= start:
            offset += term.size
            continue
        index = await run_in_threadpool(xet.xorb_index, term.xorb)
        if index is None:
            raise HubHTTPError(404, "NotFound", "A xorb of this file is missing from the CAS.")
        chunks, lo, hi, covered, pos, first_at = index.chunks[term.start : term.end], -1, -1, 0, offset, 0
        for i, c in enumerate(chunks):  # keep the chunks that overlap [start, end)
            c_start, pos = pos, pos + c.size
            if pos <= start:
                continue
            if c_start >= end:
                break
            if lo < 0:
                lo, first_at = i, c_start
            hi, covered = i + 1, covered + c.size
        if not terms:
            first_offset = start - first_at
        chunks = chunks[lo:hi]
        lo, hi = term.start + lo, term.start + hi
        xhex = hash_hex(term.xorb)
        terms.append({"hash": xhex, "unpacked_length": covered, "range": {"start": lo, "end": hi}})
        url = f"{cas_url(ctx)}/v1/fetch/{xhex}?e={expires}&s={_sign_fetch(ctx.store.secret, xhex, expires)}"
        entry = {
            "range": {"start": lo, "end": hi},
            "url": url,
            "url_range": {"start": chunks[0].start, "end": chunks[-1].end - 1},
        }
        if entry not in fetch.setdefault(xhex, []):
            fetch[xhex].append(entry)
        offset += term.size
    return JSONResponse({"offset_into_first_range": first_offset, "terms": terms, "fetch_info": fetch})


async def fetch_xorb(ctx: Ctx, xorb_hex: str) -> Response:
    xet = _xet(ctx)
    xorb = _hash_arg(xorb_hex, "xorb")
    expires = ctx.arg("e") or ""
    given = ctx.arg("s") or ""
    if not expires.isdigit() or not hmac.compare_digest(
        given, _sign_fetch(ctx.store.secret, xorb_hex, int(expires))
    ):
        raise HubHTTPError(403, "InvalidSignature", "Missing or invalid signature on the xorb fetch URL.")
    if int(expires) < time.time():
        raise HubHTTPError(
            403, "ExpiredSignature", "The xorb fetch URL has expired; ask for a new reconstruction."
        )
    if not xet.has_xorb(xorb):
        raise HubHTTPError(404, "NotFound", f"No xorb {xorb_hex} in this CAS.")
    return FileResponse(xet.xorb_path(xorb), media_type="application/octet-stream")


def stored_file(ctx: Ctx, entry: FileEntry) -> StoredFile | None:
    """The Xet reconstruction of a commit entry's content, if the CAS holds it and no plain object does.

    A plain object wins: it is what LFS uploads and :meth:`Store.tamper` write, and every client must
    then get those bytes (advertising Xet would send hf_xet to the CAS's copy instead).
    """
    if not entry.lfs or ctx.store.object_path(entry.sha256).is_file():
        return None
    return ctx.store.xet.file_for_sha256(entry.sha256)


def download_headers(ctx: Ctx, repo: RepoRef, commit_id: str, stored: StoredFile | None) -> dict[str, str]:
    """``X-Xet-Hash`` and the ``xet-auth`` link that make hf_xet reconstruct the file itself."""
    if stored is None or not ctx.hub.config.xet:
        return {}
    route = f"{ctx.base_url}/api/{repo.type}s/{repo.repo_id}/xet-read-token/{commit_id}"
    return {"X-Xet-Hash": stored.file_hash, "Link": f'<{route}>; rel="xet-auth"'}


def add_xet_hashes(ctx: Ctx, items: list[dict[str, Any]], files: dict[str, FileEntry]) -> None:
    """Add ``xetHash`` to tree / paths-info entries of Xet-stored files (the client then skips HEAD)."""
    if not ctx.hub.config.xet:
        return
    for item in items:
        entry = files.get(item["path"]) if item["type"] == "file" else None
        stored = stored_file(ctx, entry) if entry is not None else None
        if stored is not None:
            item["xetHash"] = stored.file_hash


def _pieces(xet: XetStore, stored: StoredFile, start: int, end: int) -> Iterator[bytes]:
    buf = bytearray()
    for data in xet.iter_file(stored, start, end):
        buf += data
        if len(buf) >= _STREAM_PIECE:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


def stream_file(ctx: Ctx, stored: StoredFile, headers: dict[str, str]) -> Response:
    """The content of a Xet-stored file, reconstructed while streaming (HEAD and one Range supported)."""
    span = parse_range(ctx.request.headers.get("range"), stored.size)
    start, end = span if span is not None else (0, stored.size)
    headers = {**headers, "Content-Length": str(end - start), "Accept-Ranges": "bytes"}
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{stored.size}"
    if ctx.request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type="application/octet-stream")
    return StreamingResponse(
        _pieces(ctx.store.xet, stored, start, end),
        status_code=status,
        headers=headers,
        media_type="application/octet-stream",
    )
