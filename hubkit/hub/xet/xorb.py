"""The xorb format: a series of compressed chunks, optionally followed by a footer.

Each chunk is an 8-byte header (``version`` u8 = 0, ``compressed_length`` u24 LE, ``scheme`` u8,
``uncompressed_length`` u24 LE) then its bytes, compressed with scheme 0 (none), 1 (LZ4 frame) or
2 (byte grouping 4 + LZ4 frame: the bytes at positions 0, 4, 8… then 1, 5, 9… and so on). The client
appends a footer (``XETBLOB`` v1: the xorb hash, the chunk hashes, compressed and uncompressed chunk
boundaries, then a trailing u32 footer length) that is checked against the chunks when present.
Source: Xet Protocol Specification "Xorb Formation & Serialization Format" and xet-core's
``xorb_object`` module.

:class:`XorbScanner` checks a serialized xorb fed in pieces of any size: it decompresses and hashes
every chunk and returns a :class:`XorbIndex`; :func:`scan_xorb` feeds it a file (the CAS verifies each
upload that way once its body is on disk). Anything malformed raises :class:`XetFormatError`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import lz4.frame

from hubkit.hub.xet.hashing import HASH_LEN, chunk_hash, xorb_hash

CHUNK_HEADER_LEN = 8
MAX_CHUNK_SIZE = 128 * 1024  # uncompressed; the chunker's hard maximum
MAX_COMPRESSED_CHUNK = 2 * MAX_CHUNK_SIZE
MAX_XORB_CHUNKS = 8 * 1024
MAX_XORB_BYTES = 64 * 1024 * 1024  # chunk contents; headers (and chunks that do not compress) add to it
MAX_XORB_SERIALIZED = MAX_XORB_BYTES + MAX_XORB_CHUNKS * CHUNK_HEADER_LEN
MAX_XORB_BODY = MAX_XORB_SERIALIZED + 100 + MAX_XORB_CHUNKS * (HASH_LEN + 8)  # with the footer
SCHEMES = {0: "none", 1: "lz4", 2: "bg4-lz4"}
FOOTER_IDENT = b"XETBLOB"
_HASHES_IDENT = b"XBLBHSH"
_BOUNDARIES_IDENT = b"XBLBBND"
_ENTRY = struct.Struct("<32sIII")  # chunk hash, start, end (serialized offsets), uncompressed size
_HEADER = struct.Struct("<II")  # a chunk header as two u32: version | clen << 8, scheme | size << 8
_FOOTER_FIRST = FOOTER_IDENT[0]


class XetFormatError(ValueError):
    """A xorb or shard that does not follow the format (the CAS answers 400)."""


@dataclass(frozen=True)
class ChunkRef:
    """Where one chunk lives in a serialized xorb."""

    hash: bytes  # 32-byte chunk hash of the uncompressed bytes
    start: int  # offset of its header in the serialized xorb
    end: int  # offset just past its compressed bytes
    size: int  # uncompressed length


@dataclass(frozen=True)
class XorbIndex:
    """The chunks of a verified xorb, stored next to it (``<hash>.idx``)."""

    hash: bytes  # the xorb hash recomputed from the chunks
    chunks: tuple[ChunkRef, ...]

    @property
    def unpacked_size(self) -> int:
        return sum(c.size for c in self.chunks)

    @property
    def packed_size(self) -> int:
        return self.chunks[-1].end if self.chunks else 0

    def to_bytes(self) -> bytes:
        return self.hash + b"".join(_ENTRY.pack(c.hash, c.start, c.end, c.size) for c in self.chunks)

    @classmethod
    def from_bytes(cls, data: bytes) -> XorbIndex:
        body = data[HASH_LEN:]
        if len(data) < HASH_LEN or len(body) % _ENTRY.size:
            raise XetFormatError("corrupt xorb index")
        chunks = tuple(ChunkRef(*_ENTRY.unpack_from(body, i)) for i in range(0, len(body), _ENTRY.size))
        return cls(data[:HASH_LEN], chunks)


def _regroup4(data: bytes) -> bytes:
    """Undo byte grouping: the four groups, in order, hold bytes 0 mod 4, 1 mod 4, 2 mod 4, 3 mod 4."""
    n = len(data)
    split, rem = divmod(n, 4)
    out = bytearray(n)
    pos = 0
    for k in range(4):
        length = split + (1 if k < rem else 0)
        out[k::4] = data[pos : pos + length]
        pos += length
    return bytes(out)


def _group4(data: bytes) -> bytes:
    return b"".join(data[k::4] for k in range(4))


def decompress_chunk(scheme: int, payload: bytes | memoryview, size: int) -> bytes:
    """The uncompressed bytes of one chunk; XetFormatError if they are not exactly ``size`` bytes."""
    if scheme == 0:
        raw = bytes(payload)
    elif scheme in (1, 2):
        decompressor = lz4.frame.LZ4FrameDecompressor()
        try:
            raw = decompressor.decompress(payload, max_length=size + 1)
        except RuntimeError:
            raise XetFormatError("a chunk's LZ4 frame is corrupt") from None
        if not decompressor.eof or decompressor.unused_data:
            raise XetFormatError("a chunk's LZ4 frame is truncated or has trailing bytes")
        if scheme == 2:
            raw = _regroup4(raw)
    else:
        raise XetFormatError(f"unknown chunk compression scheme {scheme}")
    if len(raw) != size:
        raise XetFormatError(f"a chunk decompresses to {len(raw)} bytes, its header says {size}")
    return raw


def compress_chunk(data: bytes, scheme: int) -> bytes:
    """Serialize one chunk (header + payload) with ``scheme``; for tests and tools."""
    payload = data if scheme == 0 else lz4.frame.compress(_group4(data) if scheme == 2 else data)
    header = (
        bytes([0]) + len(payload).to_bytes(3, "little") + bytes([scheme]) + len(data).to_bytes(3, "little")
    )
    return header + payload


def serialize_xorb(chunks: list[bytes], scheme: int = 1, *, footer: bool = True) -> tuple[bytes, bytes]:
    """``(xorb hash, serialized xorb)`` for chunk contents, footer included; for tests and tools."""
    body = bytearray()
    hashes: list[bytes] = []
    bounds: list[int] = []
    unpacked: list[int] = []
    for data in chunks:
        body += compress_chunk(data, scheme)
        hashes.append(chunk_hash(data))
        bounds.append(len(body))
        unpacked.append((unpacked[-1] if unpacked else 0) + len(data))
    xhash = xorb_hash(list(zip(hashes, (len(c) for c in chunks), strict=True)))
    if not footer:
        return xhash, bytes(body)
    n = len(chunks)
    hash_section = _HASHES_IDENT + b"\x00" + struct.pack("<I", n) + b"".join(hashes)
    bound_section = (
        _BOUNDARIES_IDENT + b"\x01" + struct.pack("<I", n) + struct.pack(f"<{2 * n}I", *bounds, *unpacked)
    )
    tail_len = 12 + 16
    info = bytearray(FOOTER_IDENT + b"\x01" + xhash + hash_section + bound_section)
    info += struct.pack(
        "<III", n, len(hash_section) + len(bound_section) + tail_len, len(bound_section) + tail_len
    )
    info += bytes(16)
    return xhash, bytes(body + info + struct.pack("<I", len(info)))


_READ_BLOCK = 1 << 20
_FOOTER_MAX = 8 + HASH_LEN + 12 + 12 + 28 + 4 + MAX_XORB_CHUNKS * (HASH_LEN + 8)  # for MAX_XORB_CHUNKS chunks


class XorbScanner:
    """Checks a serialized xorb fed in order in pieces of any size: :meth:`feed` them, then :meth:`finish`.

    Every chunk is checked, decompressed and hashed as soon as its last byte is fed; memory is the
    unfinished chunk (at most 256 KiB) and the footer. Malformed input raises :class:`XetFormatError`
    from the call that revealed it. The CAS could feed an upload's pieces as they arrive; on the 2-core
    VM that answered xorb uploads no sooner than verifying after the body (benchmarks/RESULTS.md).

    Example:
        >>> scanner = XorbScanner(); scanner.feed(blob[:1000]); scanner.feed(blob[1000:])
        >>> scanner.finish().hash == xorb_hash_of_blob
        True
    """

    def __init__(self) -> None:
        self._rest = b""  # bytes of the chunk not complete yet
        self._offset = 0  # serialized offset of self._rest[0]
        self._chunks: list[ChunkRef] = []
        self._unpacked = 0
        self._footer: bytearray | None = None

    def feed(self, data: bytes | memoryview) -> None:
        """Check the next ``data`` bytes of the xorb (they may change after the call: what is kept is copied)."""
        view = memoryview(data)
        while view and self._footer is None and self._rest:
            # complete the unfinished chunk (or header) with as few bytes of ``data`` as it needs
            rest = self._rest
            need = CHUNK_HEADER_LEN - len(rest)
            if need <= 0:  # a whole header: checked already, it is not the footer's start
                need = CHUNK_HEADER_LEN + self._check_header(rest, 0)[0] - len(rest)
            self._rest = b""
            self._scan(rest + view[:need])
            view = view[need:]
        if self._footer is not None:
            self._footer += view
            if len(self._footer) > _FOOTER_MAX:
                raise XetFormatError("the xorb footer is longer than any footer of a valid xorb")
        elif view:
            self._scan(view)

    def _scan(self, buf: bytes | memoryview) -> None:
        """Check the complete chunks at the start of ``buf``; keep the unfinished end in ``self._rest``."""
        view = memoryview(buf)
        at, total = 0, len(view)
        while total - at >= CHUNK_HEADER_LEN:
            if view[at] == _FOOTER_FIRST and view[at : at + 7] == FOOTER_IDENT:  # a header starts with 0
                self._footer = bytearray(view[at:])
                at = total
                break
            clen, scheme, size = self._check_header(view, at)
            end = at + CHUNK_HEADER_LEN + clen
            if end > total:
                break  # the rest of this chunk is in the next pieces
            payload = view[at + CHUNK_HEADER_LEN : end]
            # scheme 0: the payload is the chunk (its two lengths were checked equal); hashed in place
            raw = payload if scheme == 0 else decompress_chunk(scheme, payload, size)
            start = self._offset + at
            self._chunks.append(ChunkRef(chunk_hash(raw), start, start + CHUNK_HEADER_LEN + clen, size))
            self._unpacked += size
            at = end
            if (
                len(self._chunks) > MAX_XORB_CHUNKS
                or self._unpacked > MAX_XORB_BYTES
                or self._offset + at > MAX_XORB_SERIALIZED
            ):
                raise XetFormatError(f"the xorb exceeds {MAX_XORB_CHUNKS} chunks or {MAX_XORB_BYTES} bytes")
        self._rest = bytes(view[at:])
        self._offset += at

    def _check_header(self, buf: bytes | memoryview, at: int) -> tuple[int, int, int]:
        """``(compressed length, scheme, size)`` of the chunk header at ``buf[at:]``, checked."""
        n = len(self._chunks)
        low, high = _HEADER.unpack_from(buf, at)
        if low & 0xFF:
            raise XetFormatError(f"chunk {n} has header version {low & 0xFF}, expected 0")
        clen, scheme, size = low >> 8, high & 0xFF, high >> 8
        if scheme not in SCHEMES:
            raise XetFormatError(f"chunk {n} has unknown compression scheme {scheme}")
        if not 0 < size <= MAX_CHUNK_SIZE or not 0 < clen <= MAX_COMPRESSED_CHUNK:
            raise XetFormatError(f"chunk {n} has an impossible length ({clen} -> {size})")
        if scheme == 0 and clen != size:
            raise XetFormatError(f"uncompressed chunk {n} has two different lengths")
        return clen, scheme, size

    def finish(self) -> XorbIndex:
        """The verified index of everything fed; XetFormatError if the xorb ended early or holds nothing."""
        if self._rest and self._footer is None:
            where = "a chunk header" if len(self._rest) < CHUNK_HEADER_LEN else f"chunk {len(self._chunks)}"
            raise XetFormatError(f"the xorb ends inside {where}")
        if not self._chunks:
            raise XetFormatError("the xorb holds no chunk")
        xhash = xorb_hash([(c.hash, c.size) for c in self._chunks])
        if self._footer is not None:
            _check_footer(bytes(self._footer), self._chunks, xhash)
        return XorbIndex(xhash, tuple(self._chunks))


def scan_xorb(f: BinaryIO, total: int) -> XorbIndex:
    """Parse, decompress and hash a serialized xorb of ``total`` bytes read from ``f``.

    Checks every chunk header and payload, the footer if any, and recomputes the xorb hash (the
    caller compares it with the hash the upload claims). Memory: one read block, reused: a fresh
    block per read cost more CPU than the copy itself.
    """
    scanner = XorbScanner()
    block = bytearray(_READ_BLOCK)
    view = memoryview(block)
    remaining = total
    while remaining > 0:
        n = f.readinto(view[: min(remaining, _READ_BLOCK)])  # type: ignore[attr-defined]
        if not n:
            raise XetFormatError("the xorb ends before its declared length")
        scanner.feed(view[:n])
        remaining -= n
    return scanner.finish()


def _check_footer(info: bytes, chunks: list[ChunkRef], xhash: bytes) -> None:
    """The footer must describe exactly the chunks read before it, whose xorb hash is ``xhash``."""
    n = len(chunks)
    if len(info) < 4 or int.from_bytes(info[-4:], "little") != len(info) - 4:
        raise XetFormatError("the xorb footer length does not match")
    expected_len = 8 + HASH_LEN + (8 + 4 + n * HASH_LEN) + (8 + 4 + 8 * n) + 12 + 16
    if len(info) - 4 != expected_len or info[7] != 1:
        raise XetFormatError("the xorb footer is not a version 1 footer for its chunks")
    declared_hash = info[8:40]
    at = 40
    if info[at : at + 8] != _HASHES_IDENT + b"\x00" or struct.unpack_from("<I", info, at + 8)[0] != n:
        raise XetFormatError("the xorb footer's hash section is malformed")
    at += 12
    hashes = [info[at + i * HASH_LEN : at + (i + 1) * HASH_LEN] for i in range(n)]
    at += n * HASH_LEN
    if info[at : at + 8] != _BOUNDARIES_IDENT + b"\x01" or struct.unpack_from("<I", info, at + 8)[0] != n:
        raise XetFormatError("the xorb footer's boundary section is malformed")
    at += 12
    values = struct.unpack_from(f"<{2 * n}I", info, at)
    tail = struct.unpack_from("<III", info, at + 8 * n)
    bound_len = 12 + 8 * n + 28
    if tail != (n, bound_len + 12 + n * HASH_LEN, bound_len):
        raise XetFormatError("the xorb footer's section offsets are wrong")
    unpacked = 0
    for i, c in enumerate(chunks):
        unpacked += c.size
        if hashes[i] != c.hash or values[i] != c.end or values[n + i] != unpacked:
            raise XetFormatError(f"the xorb footer disagrees with chunk {i}")
    if declared_hash != xhash:
        raise XetFormatError("the xorb footer names another xorb hash than its chunks give")


def _stored_chunks(f: BinaryIO, chunks: tuple[ChunkRef, ...]) -> Iterator[tuple[ChunkRef, int, memoryview]]:
    """``(chunk, scheme, payload)`` of consecutive ``chunks`` of a stored xorb open as ``f``: read a block
    at a time into one buffer, so each payload is a view valid only until the next one is asked for."""
    if not chunks:
        return
    block = bytearray(_READ_BLOCK)
    f.seek(chunks[0].start)
    i = 0
    while i < len(chunks):
        base = chunks[i].start
        j = i + 1  # the chunks that fit the block (at least one: a chunk is at most 256 KiB + header)
        while j < len(chunks) and chunks[j].end - base <= _READ_BLOCK:
            j += 1
        view = memoryview(block)[: chunks[j - 1].end - base]
        got = 0
        while got < len(view):  # a read may return less than asked; only an empty one means the end
            n = f.readinto(view[got:])  # type: ignore[attr-defined]
            if not n:
                raise XetFormatError("a stored xorb is shorter than its index")
            got += n
        for c in chunks[i:j]:
            yield c, view[c.start - base + 4], view[c.start - base + CHUNK_HEADER_LEN : c.end - base]
        i = j


def feed_chunk_data(
    f: BinaryIO, chunks: tuple[ChunkRef, ...], sink: Callable[[memoryview | bytes], object]
) -> None:
    """Pass the uncompressed bytes of consecutive ``chunks`` of a stored xorb open as ``f`` to ``sink``.

    For hashing: uncompressed chunks are handed over as views into one read buffer, valid only during
    the call (compressed ones are decompressed first).

    Example:
        >>> h = hashlib.sha256(); feed_chunk_data(f, index.chunks, h.update)
    """
    for c, scheme, payload in _stored_chunks(f, chunks):
        in_place = scheme == 0 and len(payload) == c.size  # otherwise decompress_chunk checks and says why
        sink(payload if in_place else decompress_chunk(scheme, payload, c.size))


def iter_chunk_data(f: BinaryIO, chunks: tuple[ChunkRef, ...]) -> Iterator[bytes]:
    """Yield the uncompressed bytes of consecutive ``chunks`` of a stored xorb open as ``f`` (each its own
    ``bytes``: a caller may keep them)."""
    for c, scheme, payload in _stored_chunks(f, chunks):
        yield decompress_chunk(scheme, payload, c.size)
