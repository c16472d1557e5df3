"""The shard format: file reconstructions and xorb chunk listings (Xet spec "MDB Shard File Format").

A shard is a 48-byte header (a 32-byte tag, version 2, footer size), a file info section and a CAS
(xorb) info section, each a run of 48-byte records ended by a bookend record (32 bytes of 0xFF,
then zeros), and, except in uploads, a 200-byte footer. All integers are little-endian.

* File info block: header (file hash, flags, entry count, 8 reserved bytes), one term per entry
  (xorb hash, flags, unpacked bytes, chunk start, chunk end exclusive), then, by flag, one
  verification record per term (range hash + 16 reserved bytes) and one metadata record (sha256).
* CAS info block: header (xorb hash, flags, chunk count, unpacked bytes, serialized bytes), then
  per chunk its hash, its offset in the xorb's unpacked content, its unpacked size and flags.

:func:`parse_shard` reads an uploaded shard; :func:`dedup_shard` writes the answer of the global
dedup query (no files, the xorbs that hold the chunk, and a footer); :func:`upload_shard` writes
an upload body (for tests and tools).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hubkit.hub.xet.hashing import BOOKEND_HASH, HASH_LEN, ZERO_HASH
from hubkit.hub.xet.xorb import XetFormatError, XorbIndex

HEADER_TAG = b"HFRepoMetaData\x00" + bytes(
    (85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169)
)
HEADER_VERSION = 2
FOOTER_VERSION = 1
FOOTER_LEN = 200
RECORD = 48
MAX_SHARD_BYTES = 64 * 1024 * 1024
FLAG_VERIFICATION = 1 << 31
FLAG_METADATA_EXT = 1 << 30
CHUNK_FLAG_GLOBAL_DEDUP = 1 << 31
_REC = struct.Struct("<32sIIII")  # every 48-byte record: a hash and four u32 (or u32, u32, u64)
_BOOKEND = BOOKEND_HASH + bytes(16)


@dataclass(frozen=True)
class FileTerm:
    """One term of a file reconstruction: chunks ``[start, end)`` of a xorb."""

    xorb: bytes  # 32-byte xorb hash
    size: int  # unpacked bytes of those chunks
    start: int  # first chunk index
    end: int  # chunk index past the last one


@dataclass(frozen=True)
class FileRecord:
    """A file an upload declares: its hash, terms, per-term verification hashes and sha256."""

    file_hash: bytes
    terms: tuple[FileTerm, ...]
    verification: tuple[bytes, ...] | None  # one range hash per term, when the flag is set
    sha256: bytes | None  # raw 32 bytes, when the metadata extension is present

    @property
    def size(self) -> int:
        return sum(t.size for t in self.terms)


@dataclass(frozen=True)
class XorbChunk:
    """A chunk as a shard lists it."""

    hash: bytes
    start: int  # offset of the chunk's bytes in the xorb's unpacked content
    size: int  # unpacked bytes
    flags: int


@dataclass(frozen=True)
class XorbRecord:
    """A xorb as a shard lists it."""

    hash: bytes
    chunks: tuple[XorbChunk, ...]
    unpacked_bytes: int
    packed_bytes: int


@dataclass(frozen=True)
class Shard:
    """The parsed content of an uploaded shard."""

    files: tuple[FileRecord, ...]
    xorbs: tuple[XorbRecord, ...]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def record(self, what: str) -> bytes:
        if self.pos + RECORD > len(self.data):
            raise XetFormatError(f"the shard ends inside {what}")
        rec = self.data[self.pos : self.pos + RECORD]
        self.pos += RECORD
        return rec


def parse_shard(data: bytes) -> Shard:
    """Parse an uploaded shard (footer absent, or present and consistent); XetFormatError if malformed.

    Example:
        >>> parse_shard(upload_shard([], [])).files
        ()
    """
    if len(data) > MAX_SHARD_BYTES:
        raise XetFormatError(f"the shard is larger than {MAX_SHARD_BYTES} bytes")
    if len(data) < RECORD or data[:32] != HEADER_TAG:
        raise XetFormatError("not a shard (wrong magic tag)")
    version, footer_size = struct.unpack_from("<QQ", data, 32)
    if version != HEADER_VERSION or footer_size not in (0, FOOTER_LEN):
        raise XetFormatError(f"unsupported shard header (version {version}, footer {footer_size})")
    reader = _Reader(data)
    reader.pos = RECORD
    files = []
    seen: set[bytes] = set()
    while (rec := reader.record("the file info section")) != _BOOKEND:
        files.append(_file_block(reader, rec))
        if files[-1].file_hash in seen:
            raise XetFormatError("the shard lists a file twice")
        seen.add(files[-1].file_hash)
    if rec[:32] == BOOKEND_HASH and rec != _BOOKEND:
        raise XetFormatError("malformed file info bookend")
    xorbs = []
    while (rec := reader.record("the CAS info section")) != _BOOKEND:
        xorbs.append(_xorb_block(reader, rec))
    if reader.pos != len(data) - footer_size:
        raise XetFormatError("the shard has bytes after its CAS info section that are not its footer")
    if footer_size:
        (footer_version,) = struct.unpack_from("<Q", data, reader.pos)
        if footer_version != FOOTER_VERSION:
            raise XetFormatError(f"unsupported shard footer version {footer_version}")
    return Shard(tuple(files), tuple(xorbs))


def _file_block(reader: _Reader, rec: bytes) -> FileRecord:
    file_hash, flags, n, _, _ = _REC.unpack(rec)
    if file_hash == BOOKEND_HASH:
        raise XetFormatError("malformed file info bookend")
    if flags & ~(FLAG_VERIFICATION | FLAG_METADATA_EXT):
        raise XetFormatError(f"unknown file flags {flags:#x}")
    if n * RECORD > len(reader.data):
        raise XetFormatError("a file declares more terms than the shard holds")
    terms = []
    for _ in range(n):
        xorb, _xflags, size, start, end = _REC.unpack(reader.record("a file's terms"))
        if not start < end or size == 0:
            raise XetFormatError("a file term has an empty chunk range")
        terms.append(FileTerm(xorb, size, start, end))
    verification = None
    if flags & FLAG_VERIFICATION:
        verification = tuple(reader.record("verification entries")[:HASH_LEN] for _ in range(n))
    sha256 = reader.record("the metadata extension")[:HASH_LEN] if flags & FLAG_METADATA_EXT else None
    return FileRecord(file_hash, tuple(terms), verification, sha256)


def _xorb_block(reader: _Reader, rec: bytes) -> XorbRecord:
    xorb, _flags, n, unpacked, packed = _REC.unpack(rec)
    if xorb == BOOKEND_HASH:
        raise XetFormatError("malformed CAS info bookend")
    if n == 0 or n * RECORD > len(reader.data):
        raise XetFormatError("a xorb entry declares an impossible chunk count")
    chunks = []
    for _ in range(n):
        chash, start, size, cflags, _ = _REC.unpack(reader.record("a xorb's chunks"))
        chunks.append(XorbChunk(chash, start, size, cflags))
    return XorbRecord(xorb, tuple(chunks), unpacked, packed)


def _xorb_records(index: XorbIndex, flagged: frozenset[int] = frozenset()) -> bytes:
    out = [_REC.pack(index.hash, 0, len(index.chunks), index.unpacked_size, index.packed_size)]
    offset = 0
    for i, c in enumerate(index.chunks):
        out.append(_REC.pack(c.hash, offset, c.size, CHUNK_FLAG_GLOBAL_DEDUP if i in flagged else 0, 0))
        offset += c.size
    return b"".join(out)


def dedup_shard(xorbs: Sequence[XorbIndex], *, expiry_s: int = 7 * 24 * 3600) -> bytes:
    """The global dedup answer: no files, ``xorbs`` in the CAS section, a footer without HMAC key."""
    head = HEADER_TAG + struct.pack("<QQ", HEADER_VERSION, FOOTER_LEN)
    cas = b"".join(_xorb_records(x) for x in xorbs)
    body = head + _BOOKEND + cas + _BOOKEND
    footer_at = len(body)
    now = int(time.time())
    footer = struct.pack(
        "<9Q", FOOTER_VERSION, len(head), len(head) + RECORD, footer_at, 0, footer_at, 0, footer_at, 0
    )
    footer += ZERO_HASH + struct.pack("<QQ", now, now + expiry_s) + bytes(48)
    footer += struct.pack(
        "<4Q",
        sum(x.packed_size for x in xorbs),
        0,
        sum(x.unpacked_size for x in xorbs),
        footer_at,
    )
    assert len(footer) == FOOTER_LEN
    return body + footer


def upload_shard(files: Sequence[FileRecord], xorbs: Sequence[XorbIndex]) -> bytes:
    """Serialize an upload shard (no footer) declaring ``files`` and listing new ``xorbs``."""
    out = [HEADER_TAG + struct.pack("<QQ", HEADER_VERSION, 0)]
    for f in files:
        flags = (FLAG_VERIFICATION if f.verification is not None else 0) | (
            FLAG_METADATA_EXT if f.sha256 is not None else 0
        )
        out.append(_REC.pack(f.file_hash, flags, len(f.terms), 0, 0))
        out += [_REC.pack(t.xorb, 0, t.size, t.start, t.end) for t in f.terms]
        out += [h + bytes(16) for h in f.verification or ()]
        if f.sha256 is not None:
            out.append(f.sha256 + bytes(16))
    out.append(_BOOKEND)
    out += [_xorb_records(x) for x in xorbs]
    out.append(_BOOKEND)
    return b"".join(out)
