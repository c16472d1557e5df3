"""The two content ids hubkit computes, in one place: sha256 and git's blob sha1.

The Hub names an LFS file by the sha256 of its content and a regular file by its git blob id
(``sha1(b"blob <size>\\0" + content)``); hubkit computes both when converting (hash while writing),
publishing (which local files differ from the remote ones), verifying (the downloaded bytes) and serving
(the local hub's object store). Files are streamed through one reused buffer, so memory stays flat and no
chunk is allocated per read; a file is read once whatever the number of digests asked for.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from hashlib import _Hash

CHUNK_SIZE = 8 * 1024 * 1024  # 8 MiB: big enough for disk throughput, small enough to keep RSS flat
# Hashing in a background thread: fewer, larger chunks, so the GIL waits between chunks add little.
THREAD_CHUNK_SIZE = 32 * 1024 * 1024
Buffer = bytes | bytearray | memoryview


def sha256_bytes(data: Buffer) -> str:
    """Return the hex sha256 of ``data``.

    Example:
        >>> sha256_bytes(b"")[:12]
        'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


def git_blob_hasher(size: int) -> _Hash:
    """A sha1 already fed git's blob header for ``size`` bytes: update it with the content.

    Example:
        >>> git_blob_hasher(0).hexdigest()
        'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    return hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)


def git_blob_sha1(data: Buffer) -> str:
    """The git blob id of ``data`` (what the Hub reports as ``blob_id`` / tree ``oid`` of a regular file).

    Example:
        >>> git_blob_sha1(b"")
        'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    digest = git_blob_hasher(memoryview(data).nbytes)
    digest.update(data)
    return digest.hexdigest()


def hash_file(path: str | os.PathLike[str], *digests: _Hash, chunk_size: int = CHUNK_SIZE) -> None:
    """Feed the content of ``path`` to every digest in ``digests``, reading the file once.

    Example:
        >>> sha, git = hashlib.sha256(), git_blob_hasher(2)
        >>> hash_file("a.txt", sha, git)  # doctest: +SKIP
    """
    # One reused buffer: no fresh allocation (and page faults) per chunk. Reads and hashing release the GIL;
    # each chunk costs one GIL re-acquisition, so a thread hashing beside busy Python threads wants big chunks.
    with open(path, "rb", buffering=0) as handle:
        # Small files (cards, configs) get a buffer of their size, not 8 MiB to zero-fill.
        buffer = bytearray(max(1, min(chunk_size, os.fstat(handle.fileno()).st_size)))
        view = memoryview(buffer)
        while n := handle.readinto(buffer):
            for digest in digests:
                digest.update(view[:n])


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE) -> str:
    """Return the hex sha256 of a file, read in chunks (constant memory).

    Example:
        >>> sha256_file("runs/timm-digits/last.pth.tar")[:12]  # doctest: +SKIP
        '3f2a9c0d81e4'
    """
    digest = hashlib.sha256()
    hash_file(path, digest, chunk_size=chunk_size)
    return digest.hexdigest()


def git_blob_sha1_file(path: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE) -> str:
    """The git blob id of a file's content, streamed.

    Example:
        >>> git_blob_sha1_file("config.json")[:8]  # doctest: +SKIP
        '9a3e61f0'
    """
    digest = git_blob_hasher(Path(path).stat().st_size)
    hash_file(path, digest, chunk_size=chunk_size)
    return digest.hexdigest()


def file_digests(path: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE) -> tuple[str, str]:
    """``(sha256, git blob sha1)`` of a file, read once: the ids the Hub lists for LFS and regular files.

    Example:
        >>> file_digests("config.json")[0][:8]  # doctest: +SKIP
        '25554d5f'
    """
    sha256, git = hashlib.sha256(), git_blob_hasher(Path(path).stat().st_size)
    hash_file(path, sha256, git, chunk_size=chunk_size)
    return sha256.hexdigest(), git.hexdigest()


class HashingWriter:
    """Write a file atomically (temp file, then rename on success) while hashing what is written (sha256).

    Example:
        >>> with HashingWriter(Path("out/model.safetensors")) as out:  # doctest: +SKIP
        ...     out.write(b"...")
        >>> out.hexdigest()  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.size = 0
        self._digest = hashlib.sha256()
        self._handle: BinaryIO | None = None

    def __enter__(self) -> HashingWriter:
        self._handle = open(self.tmp, "wb")
        return self

    def write(self, data: Buffer) -> None:
        """Hash ``data`` and write it (no copy of ``data`` is made)."""
        assert self._handle is not None, "HashingWriter.write outside its with block"
        self._digest.update(data)
        self._handle.write(data)
        self.size += memoryview(data).nbytes

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._handle is not None
        self._handle.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

    def hexdigest(self) -> str:
        """The sha256 of everything written so far."""
        return self._digest.hexdigest()


def write_bytes_hashed(path: str | os.PathLike[str], data: Buffer) -> str:
    """Write ``data`` to ``path`` atomically (temp file + rename) and return its sha256, in one pass.

    Example:
        >>> write_bytes_hashed("out/config.json", b"{}")[:12]  # doctest: +SKIP
        '44136fa355b3'
    """
    view = memoryview(data)
    with HashingWriter(path) as out:
        for start in range(0, len(view), CHUNK_SIZE):
            out.write(view[start : start + CHUNK_SIZE])
    return out.hexdigest()
