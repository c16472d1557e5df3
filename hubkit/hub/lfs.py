"""The legacy Git LFS upload path: batch API, multipart part PUTs, completion and verify.

``huggingface_hub`` uses it for file-object uploads (hubkit's :func:`hubkit.hub.client.streaming_add`)
and with ``HF_HUB_DISABLE_XET=1``. Part URLs carry no Authorization header, so they are signed
(``?token=<hmac>``). Parts are written at their offset into one ``tmp/lfs-<sha256>`` file while a
running sha256 follows them in order; at completion the object is adopted only if the hash matches
the declared oid (otherwise 400 and the store is unchanged). A part sent twice or out of order makes
the completion re-read the file to hash it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubkit.hashing import sha256_file
from hubkit.hub.storage import Store
from hubkit.hub.validation import HubHTTPError, bad_request, check_sha256

CHUNK_SIZE = 16 * 1024 * 1024  # multipart part size offered to clients
MAX_OBJECT_SIZE = 1 << 40


def sign(store: Store, oid: str, what: str) -> str:
    """The ``?token=`` of an LFS URL: an HMAC of the object id and the action with the data dir's key.

    Example:
        >>> len(sign(store, "0" * 64, "part"))
        40
    """
    return hmac.new(store.secret, f"{oid}:{what}".encode(), hashlib.sha256).hexdigest()[:40]


def check_signature(store: Store, oid: str, what: str, token: str | None) -> None:
    if not token or not hmac.compare_digest(token, sign(store, oid, what)):
        raise HubHTTPError(401, "InvalidSignature", "Missing or invalid signed token on LFS upload URL.")


def batch_response(store: Store, body: Any, base_url: str, repo_path: str) -> dict[str, Any]:
    """Answer ``POST {repo}.git/info/lfs/objects/batch`` (upload only).

    Objects already stored get no ``actions`` (the client skips them); others get a multipart upload
    (part URLs + completion URL, all signed) and a verify action.
    """
    if (
        not isinstance(body, dict)
        or body.get("operation") != "upload"
        or not isinstance(body.get("objects"), list)
    ):
        raise bad_request("LFS batch body needs operation 'upload' and a list of objects.", "InvalidLfsBatch")
    if len(body["objects"]) > 1000:
        raise bad_request("At most 1000 objects per LFS batch.", "InvalidLfsBatch")
    out = []
    seen: set[str] = set()
    for obj in body["objects"]:
        oid, size = (obj.get("oid"), obj.get("size")) if isinstance(obj, dict) else (None, None)
        if not isinstance(oid, str) or not isinstance(size, int) or isinstance(size, bool):
            raise bad_request(
                "Each LFS object needs a string 'oid' and an integer 'size'.", "InvalidLfsBatch"
            )
        try:
            check_sha256(oid)
            if not 0 < size <= MAX_OBJECT_SIZE:
                raise bad_request("size out of range")
        except HubHTTPError:
            out.append({"oid": oid, "size": size, "error": {"code": 422, "message": "Invalid oid or size"}})
            continue
        if store.object_size(oid) == size or oid in seen:
            # Stored already, or listed twice in this batch: one upload is enough (two parallel
            # uploads of one oid would share one file handle in the client).
            out.append({"oid": oid, "size": size})
            continue
        seen.add(oid)
        n_parts = -(-size // CHUNK_SIZE)
        header: dict[str, str] = {"chunk_size": str(CHUNK_SIZE)}
        for n in range(1, n_parts + 1):
            header[f"{n:05d}"] = (
                f"{base_url}/_lfs/{oid}/part/{n}?size={size}&token={sign(store, oid, 'part')}"
            )
        out.append(
            {
                "oid": oid,
                "size": size,
                "authenticated": True,
                "actions": {
                    "upload": {
                        "href": f"{base_url}/_lfs/{oid}/complete?size={size}&token={sign(store, oid, 'complete')}",
                        "header": header,
                    },
                    "verify": {"href": f"{base_url}/_lfs/{oid}/verify", "header": {}},
                },
            }
        )
    return {"transfer": "multipart", "objects": out}


@dataclass
class _Session:
    """A multipart upload in progress; the running hash is valid while parts come once, in order."""

    size: int
    path: Path
    hasher: Any = field(default_factory=hashlib.sha256)
    next_part: int = 1
    in_order: bool = True


class LfsUploads:
    """Multipart upload sessions of one server (sessions survive a restart as files, not hashes)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions: dict[str, _Session] = {}
        self._guard = threading.Lock()

    def _session(self, oid: str, size: int) -> _Session:
        with self._guard:
            session = self._sessions.get(oid)
            if session is None or session.size != size:
                path = self.store.root / "tmp" / f"lfs-{oid}-{size}"
                session = _Session(size=size, path=path, in_order=not path.exists())
                self._sessions[oid] = session
            return session

    async def put_part(
        self, oid: str, size: int, part: int, stream: AsyncIterator[bytes], length: int
    ) -> str:
        """Write part ``part`` (1-based) at its offset while hashing; returns its ETag."""
        n_parts = -(-size // CHUNK_SIZE)
        if not 1 <= part <= n_parts:
            raise bad_request(f"Part {part} out of range 1..{n_parts}.", "InvalidLfsPart")
        expected = min(CHUNK_SIZE, size - (part - 1) * CHUNK_SIZE)
        if length != expected:
            raise bad_request(f"Part {part} must be {expected} bytes, got {length}.", "InvalidLfsPart")
        session = self._session(oid, size)
        sequential = session.in_order and part == session.next_part
        received = 0
        fd = os.open(session.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            offset = (part - 1) * CHUNK_SIZE
            async for chunk in stream:
                received += len(chunk)
                if received > expected:
                    raise bad_request(f"Part {part} is longer than {expected} bytes.", "InvalidLfsPart")
                os.pwrite(fd, chunk, offset)
                offset += len(chunk)
                if sequential:
                    session.hasher.update(chunk)
        except BaseException:
            session.in_order = False  # the running hash now covers a partial part
            raise
        finally:
            os.close(fd)
        if received != expected:
            session.in_order = False
            raise bad_request(f"Part {part} has {received} bytes, expected {expected}.", "InvalidLfsPart")
        if sequential:
            session.next_part += 1
        else:
            session.in_order = False
        # The part ETag only has to be non-empty and stable: completion checks the whole object's sha256,
        # so a per-part checksum would be work (~15 % of a part's server time) that nothing reads.
        return f'"{oid[:16]}-{part}-{length}"'

    def complete(self, oid: str, size: int) -> None:
        """Check the assembled object against ``oid`` and move it into the store (400 on mismatch)."""
        session = self._session(oid, size)
        if not session.path.exists() or session.path.stat().st_size != size:
            raise bad_request(f"LFS upload of {oid} is incomplete.", "LfsIncomplete")
        n_parts = -(-size // CHUNK_SIZE)
        if session.in_order and session.next_part == n_parts + 1:
            digest = session.hasher.hexdigest()
        else:
            digest = sha256_file(session.path)
        with self._guard:
            self._sessions.pop(oid, None)
        if digest != oid:
            session.path.unlink(missing_ok=True)
            raise bad_request(
                f"Uploaded content hashes to sha256 {digest}, not the declared {oid}; object refused.",
                "LfsChecksumMismatch",
            )
        self.store.adopt_object(session.path, oid)

    async def put_single(self, oid: str, stream: AsyncIterator[bytes]) -> None:
        """Basic transfer: the whole object in one PUT, hashed while written."""
        tmp = self.store.temp_path("lfs-single-")
        h = hashlib.sha256()
        try:
            with open(tmp, "wb") as f:
                async for chunk in stream:
                    f.write(chunk)
                    h.update(chunk)
            if h.hexdigest() != oid:
                raise bad_request(
                    f"Uploaded content does not hash to {oid}; object refused.", "LfsChecksumMismatch"
                )
            self.store.adopt_object(tmp, oid)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def verify(self, body: Any) -> None:
        """``POST /_lfs/{oid}/verify``: 200 when the object is stored with that size, else 404."""
        if not isinstance(body, dict):
            raise bad_request("LFS verify body must be a JSON object.", "InvalidLfsVerify")
        oid = check_sha256(body.get("oid"))
        if self.store.object_size(oid) != body.get("size"):
            raise HubHTTPError(404, "LfsObjectNotFound", f"LFS object {oid} is not stored with that size.")
