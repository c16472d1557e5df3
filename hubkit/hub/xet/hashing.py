"""Xet hashes: chunk hashes, xorb and file Merkle hashes, term verification hashes, hex strings.

All hashes are 32 bytes, computed with keyed BLAKE3 (Xet Protocol Specification, "Hashing"; the
keys are the constants of xet-core's ``merklehash`` and ``chunk_verification`` modules):

* chunk hash: ``blake3(chunk, key=DATA_KEY)``;
* xorb hash: the root of an aggregated Merkle tree over ``(chunk hash, chunk size)`` pairs whose
  inner nodes hash the text ``"{hex} : {size}\\n"`` of their children with ``INTERNAL_NODE_KEY``;
  a node ends after a child whose hash is 0 mod 4 (at least 2 and at most 9 children);
* file hash: the same tree root, hashed once more with an all-zero key (no salt);
* term verification hash: ``blake3(concatenated chunk hashes, key=VERIFICATION_KEY)``.

Hashes are written as text per 8-byte group, each group read as a little-endian u64 and printed
as 16 hex digits (spec "Converting Hashes to Strings"); :func:`hash_hex` / :func:`hash_from_hex`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence

import blake3

HASH_LEN = 32
DATA_KEY = bytes.fromhex("6697f5775b9550de3135cbaca597181c9de421109beb2b58b4d0b04b93adf229")
INTERNAL_NODE_KEY = bytes.fromhex("017ec5c7a5472996fd946666b48a02e65ddd536f37c76dd2f86352e64a53713f")
VERIFICATION_KEY = bytes.fromhex("7f1857d6ce56ed66127ff913e7a5c3f3a4cd26d5b5db49e64124987f28fb94c3")
ZERO_HASH = bytes(HASH_LEN)
BOOKEND_HASH = b"\xff" * HASH_LEN
GLOBAL_DEDUP_MODULUS = 1024  # a chunk is offered for global dedup when its hash is 0 mod this
_BRANCHING = 4
_MAX_CHILDREN = 2 * _BRANCHING + 1
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
_GROUPS = struct.Struct("<4Q")  # a hash as four little-endian u64 (its text form)
_HEX = "{:016x}{:016x}{:016x}{:016x}".format
_NODE_LINE = "{:016x}{:016x}{:016x}{:016x} : {}\n".format


def hash_hex(raw: bytes) -> str:
    """The spec's text form of a hash (each 8-byte group as a little-endian u64 in hex).

    Example:
        >>> hash_hex(bytes(range(32)))[:16]
        '0706050403020100'
    """
    return _HEX(*_GROUPS.unpack(raw))


def hash_from_hex(text: str) -> bytes:
    """Inverse of :func:`hash_hex`; ValueError unless ``text`` is 64 lowercase hex digits.

    Example:
        >>> hash_from_hex(hash_hex(b"\\x01" * 32)) == b"\\x01" * 32
        True
    """
    if not isinstance(text, str) or not _HEX_RE.match(text):
        raise ValueError(f"not a Xet hash (64 lowercase hex digits): {text!r}")
    raw = bytes.fromhex(text)
    return b"".join(raw[i : i + 8][::-1] for i in range(0, HASH_LEN, 8))


def is_hash_hex(text: str) -> bool:
    """Whether ``text`` is a well-formed hash string (64 lowercase hex digits)."""
    return isinstance(text, str) and bool(_HEX_RE.match(text))


def chunk_hash(data: bytes | memoryview) -> bytes:
    """The hash of one chunk's (uncompressed) bytes.

    Example:
        >>> len(chunk_hash(b"hello"))
        32
    """
    return blake3.blake3(data, key=DATA_KEY).digest()


def _mod(h: bytes, modulus: int) -> int:
    # The Rust code reads the last 8 bytes as a little-endian u64 for "hash % n".
    return int.from_bytes(h[24:32], "little") % modulus


def is_global_dedup_eligible(h: bytes) -> bool:
    """Whether a chunk hash is one the client may look up in the global dedup index by itself."""
    return _mod(h, GLOBAL_DEDUP_MODULUS) == 0


def _node(children: Sequence[tuple[bytes, int]]) -> tuple[bytes, int]:
    text = "".join(_NODE_LINE(*_GROUPS.unpack(h), size) for h, size in children)
    return blake3.blake3(text.encode(), key=INTERNAL_NODE_KEY).digest(), sum(s for _, s in children)


def _next_cut(level: Sequence[tuple[bytes, int]], start: int) -> int:
    remaining = len(level) - start
    if remaining <= 2:
        return len(level)
    end = start + min(_MAX_CHILDREN, remaining)
    for i in range(start + 2, end):
        if _mod(level[i][0], _BRANCHING) == 0:
            return i + 1
    return end


def merkle_root(chunks: Iterable[tuple[bytes, int]]) -> bytes:
    """Root of the aggregated Merkle tree over ``(chunk hash, size)`` pairs (zeros when empty)."""
    level = list(chunks)
    if not level:
        return ZERO_HASH
    while len(level) > 1:
        merged: list[tuple[bytes, int]] = []
        start = 0
        while start < len(level):
            cut = _next_cut(level, start)
            merged.append(_node(level[start:cut]))
            start = cut
        level = merged
    return level[0][0]


def xorb_hash(chunks: Iterable[tuple[bytes, int]]) -> bytes:
    """The hash of a xorb from its chunks' ``(hash, uncompressed size)`` in order."""
    return merkle_root(chunks)


def file_hash(chunks: Iterable[tuple[bytes, int]]) -> bytes:
    """The hash of a file from all its chunks' ``(hash, size)`` in order (zeros for an empty file).

    Example:
        >>> file_hash([]) == ZERO_HASH
        True
    """
    root = merkle_root(chunks)
    if root == ZERO_HASH:
        return ZERO_HASH
    return blake3.blake3(root, key=ZERO_HASH).digest()


def range_hash(chunk_hashes: Iterable[bytes]) -> bytes:
    """The verification hash of a term: proves the uploader knew the chunk hashes it references."""
    return blake3.blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()
