"""sha256 helpers shared by hubkit (runs, publish, verify): stream files once, hash while writing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK_SIZE = 8 * 1024 * 1024  # 8 MiB: big enough for disk throughput, small enough to keep RSS flat
# Hashing in a background thread: fewer, larger chunks, so the GIL waits between chunks add little.
THREAD_CHUNK_SIZE = 32 * 1024 * 1024


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """Return the hex sha256 of ``data``.

    Example:
        >>> sha256_bytes(b"")[:12]
        'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE) -> str:
    """Return the hex sha256 of a file, read in chunks (constant memory).

    Args:
        path: the file.
        chunk_size: bytes read at a time.

    Returns:
        The 64-character hex digest.

    Example:
        >>> sha256_file("runs/timm-digits/last.pth.tar")[:12]
        '3f2a9c0d81e4'
    """
    digest = hashlib.sha256()
    # One reused buffer: no fresh allocation (and page faults) per chunk. Reads and hashing release the GIL;
    # each chunk costs one GIL re-acquisition, so a thread hashing beside busy Python threads wants big chunks.
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def write_bytes_hashed(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> str:
    """Write ``data`` to ``path`` atomically (temp file + rename) and return its sha256, in one pass.

    Example:
        >>> write_bytes_hashed("out/config.json", b"{}")[:12]
        '44136fa355b3'
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    digest = hashlib.sha256()
    view = memoryview(data)
    with open(tmp, "wb") as handle:
        for start in range(0, len(view), CHUNK_SIZE):
            chunk = view[start : start + CHUNK_SIZE]
            digest.update(chunk)
            handle.write(chunk)
    os.replace(tmp, target)
    return digest.hexdigest()
