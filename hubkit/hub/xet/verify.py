"""What an uploaded shard must prove before the CAS records its files.

For every xorb the shard lists: the xorb is stored and the listing equals its verified chunk index.
For every file: each term names a stored xorb and a chunk range inside it, with the right unpacked
size and the right verification hash (the keyed hash of the chunk hashes of the range, which only
someone who had the chunks can compute); the file hash recomputed from all chunks equals the
declared one; and the sha256 of the reconstructed content equals the metadata extension (the
sha256 a commit will name). Nothing is written unless everything holds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hubkit.hub.xet.cas import StoredFile, XetStore
from hubkit.hub.xet.hashing import file_hash, hash_hex, is_global_dedup_eligible, range_hash
from hubkit.hub.xet.shard import CHUNK_FLAG_GLOBAL_DEDUP, FileRecord, Shard
from hubkit.hub.xet.xorb import XorbIndex


class ShardRefused(ValueError):
    """A shard whose content does not check out (the CAS answers 400 with ``code``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # "XorbNotFound", "VerificationFailed", "FileHashMismatch", "Sha256Mismatch", ...
        self.message = message


@dataclass(frozen=True)
class VerifiedShard:
    """What to record once a shard checked out."""

    files: tuple[StoredFile, ...]
    xorbs: tuple[bytes, ...]  # every xorb the shard's files use or its CAS section lists, in order
    dedup_chunks: tuple[bytes, ...]  # chunk hashes to enter in the global dedup index
    new_files: int  # files the CAS did not know yet


def _index(xet: XetStore, xorb: bytes, where: str) -> XorbIndex:
    index = xet.xorb_index(xorb)
    if index is None:
        raise ShardRefused(
            "XorbNotFound", f"{where} references xorb {hash_hex(xorb)}, which was never uploaded."
        )
    return index


def verify_shard(xet: XetStore, shard: Shard) -> VerifiedShard:
    """Check ``shard`` against the stored xorbs; ShardRefused on the first failure."""
    dedup: dict[bytes, None] = {}
    xorbs: dict[bytes, None] = {}
    for record in shard.xorbs:
        index = _index(xet, record.hash, "the CAS info section")
        listed = [(c.hash, c.start, c.size) for c in record.chunks]
        offsets = itertools.accumulate((c.size for c in index.chunks), initial=0)
        if listed != [(c.hash, o, c.size) for c, o in zip(index.chunks, offsets, strict=False)] or (
            record.unpacked_bytes != index.unpacked_size
        ):
            raise ShardRefused(
                "XorbListingMismatch",
                f"the shard's listing of xorb {hash_hex(record.hash)} is not its content.",
            )
        for c in record.chunks:
            if c.flags & CHUNK_FLAG_GLOBAL_DEDUP or is_global_dedup_eligible(c.hash):
                dedup[c.hash] = None
        xorbs[record.hash] = None
    files = []
    new_files = 0
    for file in shard.files:
        stored = _verify_file(xet, file)
        if stored.terms:
            first = _index(xet, stored.terms[0].xorb, "a file")
            dedup[first.chunks[stored.terms[0].start].hash] = None
        xorbs.update(dict.fromkeys(t.xorb for t in stored.terms))
        known = xet.file_record(stored.file_hash)
        new_files += known is None
        files.append(stored)
    return VerifiedShard(tuple(files), tuple(xorbs), tuple(dedup), new_files)


def _verify_file(xet: XetStore, record: FileRecord) -> StoredFile:
    name = hash_hex(record.file_hash)
    if record.verification is None and record.terms:
        raise ShardRefused("VerificationMissing", f"file {name} has no verification entries.")
    chunks: list[tuple[bytes, int]] = []
    for i, term in enumerate(record.terms):
        index = _index(xet, term.xorb, f"file {name}")
        if term.end > len(index.chunks):
            raise ShardRefused(
                "InvalidTerm",
                f"file {name} term {i} asks for chunks past the end of xorb {hash_hex(term.xorb)}.",
            )
        selected = index.chunks[term.start : term.end]
        if sum(c.size for c in selected) != term.size:
            raise ShardRefused("InvalidTerm", f"file {name} term {i} declares the wrong unpacked size.")
        assert record.verification is not None
        if range_hash(c.hash for c in selected) != record.verification[i]:
            raise ShardRefused("VerificationFailed", f"file {name} term {i} fails its verification hash.")
        chunks += [(c.hash, c.size) for c in selected]
    if file_hash(chunks) != record.file_hash:
        raise ShardRefused("FileHashMismatch", f"the chunks of file {name} hash to another file hash.")
    known = xet.file_record(name)
    declared = hash_hex(record.sha256) if record.sha256 is not None else None
    if known is not None and declared in (None, known.sha256):
        return known  # same content verified before: its sha256 is already known
    partial = StoredFile(name, "", record.size, record.terms)
    digest = xet.file_sha256(partial)
    if declared is not None and declared != digest:
        raise ShardRefused(
            "Sha256Mismatch", f"file {name} declares sha256 {declared}, its content hashes to {digest}."
        )
    return StoredFile(name, digest, record.size, record.terms)


def record_shard(xet: XetStore, verified: VerifiedShard) -> None:
    """Write what :func:`verify_shard` accepted: files (sha256 entries last), then the dedup index."""
    for stored in verified.files:
        xet.add_file(stored)
    if verified.xorbs:
        group = xet.add_group(verified.xorbs)
        for chunk in verified.dedup_chunks:
            xet.add_dedup_chunk(chunk, group)
    xet.stats.add(shards_registered=1)
