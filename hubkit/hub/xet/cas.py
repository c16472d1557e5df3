"""The local hub's Xet content-addressed store: xorbs, file reconstructions and the lookups on them.

Layout under ``<data>/xet/`` (every write is temp file + fsync + ``os.replace``)::

    xorbs/ab/<hash>          a xorb as uploaded (chunks, then the client's footer if it sent one)
    xorbs/ab/<hash>.idx      its verified chunk index (see :class:`~hubkit.hub.xet.xorb.XorbIndex`)
    files/ab/<hash>.json     a file reconstruction: {"sha256", "size", "terms": [[xorb, start, end, size]]}
    sha256/ab/<sha256>       the file hash of the content with that sha256 (what commits refer to)
    groups/ab/<id>           the xorbs one shard used (its files' and its new ones), 32 bytes each
    chunks/ab/<hash>         the group of a chunk offered to global dedup

Hashes in names are the spec's hex strings. A xorb is stored once, whichever file or repo brought
it; the index is written before the xorb, so a xorb is visible only once it is complete. A global
dedup query answers with the whole group of the shard that registered the chunk, as the Hub's CAS
does: one hit on a checkpoint's first chunk lets the client reuse every xorb of that checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hubkit.hub.durable import atomic_write
from hubkit.hub.xet.hashing import hash_from_hex, hash_hex
from hubkit.hub.xet.shard import FileTerm
from hubkit.hub.xet.xorb import XetFormatError, XorbIndex, feed_chunk_data, iter_chunk_data, scan_xorb

_INDEX_CACHE = 64  # indexes kept in memory (~50 KB per 64 MiB xorb of 1000 chunks)
MAX_DEDUP_XORBS = 256  # xorbs in one global dedup answer (~12 MB of shard at most)


@dataclass(frozen=True)
class StoredFile:
    """A file whose reconstruction the CAS holds."""

    file_hash: str  # spec hex of the Xet file hash
    sha256: str  # 64 hex, the sha256 commits and LFS pointers use
    size: int  # bytes
    terms: tuple[FileTerm, ...]  # xorb chunk ranges, in file order


@dataclass
class XetStats:
    """Byte counters of one server run (for tests and benchmarks: what was sent, what was new)."""

    xorb_bytes_received: int = 0  # bodies of xorb uploads, valid or not
    xorb_bytes_stored: int = 0  # xorbs that were new
    xorbs_stored: int = 0
    xorbs_known: int = 0  # uploads of xorbs already stored
    shards_registered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self.lock:
            for name, value in deltas.items():
                setattr(self, name, getattr(self, name) + value)


class XetStore:
    """The Xet half of a data dir. Thread-safe; used from the server's thread pool.

    Example:
        >>> xet = XetStore(data_dir / "xet"); xet.file_for_sha256("0" * 64) is None
        True
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("xorbs", "files", "sha256", "groups", "chunks", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.stats = XetStats()
        self._indexes: OrderedDict[bytes, XorbIndex] = OrderedDict()
        self._guard = threading.Lock()

    def _path(self, kind: str, name: str, suffix: str = "") -> Path:
        return self.root / kind / name[:2] / (name + suffix)

    def temp_path(self) -> Path:
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix="xorb-")
        os.close(fd)
        return Path(name)

    # --- xorbs -----------------------------------------------------------------------------------
    def xorb_path(self, xorb: bytes) -> Path:
        return self._path("xorbs", hash_hex(xorb))

    def has_xorb(self, xorb: bytes) -> bool:
        return self.xorb_path(xorb).is_file()

    def xorb_index(self, xorb: bytes) -> XorbIndex | None:
        """The chunk index of a stored xorb, ``None`` if it is not stored."""
        with self._guard:
            cached = self._indexes.get(xorb)
            if cached is not None:
                self._indexes.move_to_end(xorb)
                return cached
        if not self.has_xorb(xorb):
            return None
        try:
            index = XorbIndex.from_bytes(self._path("xorbs", hash_hex(xorb), ".idx").read_bytes())
        except (OSError, XetFormatError):
            return None
        self._cache_index(index)
        return index

    def _cache_index(self, index: XorbIndex) -> None:
        with self._guard:
            self._indexes[index.hash] = index
            self._indexes.move_to_end(index.hash)
            while len(self._indexes) > _INDEX_CACHE:
                self._indexes.popitem(last=False)

    def add_xorb(self, tmp: Path, claimed: bytes) -> bool:
        """Verify the serialized xorb in ``tmp`` against its claimed hash and store it.

        Returns True if it was new. Raises XetFormatError (nothing stored) when it is malformed or
        its chunks hash to another xorb hash. ``tmp`` is consumed either way.
        """
        try:
            size = tmp.stat().st_size
            with open(tmp, "rb") as f:
                index = scan_xorb(f, size)
            if index.hash != claimed:
                raise XetFormatError(
                    f"the xorb's chunks hash to {hash_hex(index.hash)}, not the {hash_hex(claimed)} in the URL"
                )
            if self.has_xorb(claimed):
                self.stats.add(xorbs_known=1)
                return False
            atomic_write(self._path("xorbs", hash_hex(claimed), ".idx"), index.to_bytes())
            target = self.xorb_path(claimed)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
            self._cache_index(index)  # the shard that follows needs it: not read back from disk
            self.stats.add(xorbs_stored=1, xorb_bytes_stored=size)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    # --- files -----------------------------------------------------------------------------------
    def file_record(self, file_hash: str) -> StoredFile | None:
        try:
            data = json.loads(self._path("files", file_hash, ".json").read_bytes())
        except (OSError, ValueError):
            return None
        terms = tuple(FileTerm(hash_from_hex(x), size, start, end) for x, start, end, size in data["terms"])
        return StoredFile(file_hash, data["sha256"], data["size"], terms)

    def file_for_sha256(self, sha256: str) -> StoredFile | None:
        """The Xet file with that sha256 content, if the CAS holds one."""
        try:
            file_hash = self._path("sha256", sha256).read_text().strip()
        except OSError:
            return None
        return self.file_record(file_hash)

    def add_file(self, stored: StoredFile) -> None:
        """Record a verified file reconstruction and its sha256 (the sha256 entry last)."""
        data = {
            "sha256": stored.sha256,
            "size": stored.size,
            "terms": [[hash_hex(t.xorb), t.start, t.end, t.size] for t in stored.terms],
        }
        atomic_write(self._path("files", stored.file_hash, ".json"), json.dumps(data).encode())
        atomic_write(self._path("sha256", stored.sha256), stored.file_hash.encode())

    def add_group(self, xorbs: tuple[bytes, ...]) -> str:
        """Record the xorbs of one shard; returns the group's id (named by its content)."""
        blob = b"".join(xorbs)
        group = hashlib.sha256(blob).hexdigest()
        path = self._path("groups", group)
        if not path.exists():
            atomic_write(path, blob)
        return group

    def add_dedup_chunk(self, chunk: bytes, group: str) -> None:
        path = self._path("chunks", hash_hex(chunk))
        if not path.exists():  # the first upload that had the chunk keeps it
            atomic_write(path, group.encode())

    def dedup_xorbs(self, chunk: bytes) -> list[XorbIndex]:
        """The stored xorbs to offer for a chunk: the group that registered it, the chunk's xorb first."""
        try:
            group = self._path("chunks", hash_hex(chunk)).read_text().strip()
            blob = self._path("groups", group).read_bytes()
        except OSError:
            return []
        indexes = [
            index
            for i in range(0, len(blob) - len(blob) % 32, 32)
            if (index := self.xorb_index(blob[i : i + 32])) is not None
        ]
        indexes.sort(key=lambda x: not any(c.hash == chunk for c in x.chunks))
        return indexes[:MAX_DEDUP_XORBS]

    # --- reading ---------------------------------------------------------------------------------
    def file_sha256(self, stored: StoredFile) -> str:
        """The sha256 of a stored file's content, read one block of each xorb at a time (no copies)."""
        h = hashlib.sha256()
        for term in stored.terms:
            index = self.xorb_index(term.xorb)
            if index is None:
                raise XetFormatError(f"xorb {hash_hex(term.xorb)} of a stored file is missing")
            with open(self.xorb_path(term.xorb), "rb", buffering=0) as f:
                feed_chunk_data(f, index.chunks[term.start : term.end], h.update)
        return h.hexdigest()

    def iter_file(self, stored: StoredFile, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield bytes ``[start, end)`` of a stored file, decompressing one chunk at a time."""
        end = stored.size if end is None else min(end, stored.size)
        offset = 0
        for term in stored.terms:
            if offset >= end:
                return
            if offset + term.size <= start:
                offset += term.size
                continue
            index = self.xorb_index(term.xorb)
            if index is None:
                raise XetFormatError(f"xorb {hash_hex(term.xorb)} of a stored file is missing")
            with open(self.xorb_path(term.xorb), "rb") as f:
                for data in iter_chunk_data(f, index.chunks[term.start : term.end]):
                    lo, hi = max(start - offset, 0), min(end - offset, len(data))
                    offset += len(data)
                    if lo < hi:
                        yield data[lo:hi]
                    if offset >= end:
                        return
