"""hubkit.hashing: the content ids the Hub uses, computed the way git and git-lfs do."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from hubkit.hashing import (
    HashingWriter,
    file_digests,
    git_blob_sha1,
    git_blob_sha1_file,
    sha256_bytes,
    sha256_file,
    write_bytes_hashed,
)

DATA = bytes(range(256)) * 1000 + b"tail"  # 256_004 bytes: several chunks at chunk_size=4096


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_blob_sha1_is_what_git_computes(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(DATA)
    expected = subprocess.run(
        ["git", "hash-object", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert git_blob_sha1(DATA) == expected == git_blob_sha1_file(path, chunk_size=4096)


def test_streamed_digests_equal_whole_buffer_digests(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    assert sha256_file(path, chunk_size=4096) == hashlib.sha256(DATA).hexdigest() == sha256_bytes(DATA)
    assert file_digests(path, chunk_size=4096) == (sha256_bytes(DATA), git_blob_sha1(DATA))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_digests(empty)[1] == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_hashing_writer_hashes_what_it_writes_and_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    assert write_bytes_hashed(target, DATA) == sha256_bytes(DATA) and target.read_bytes() == DATA
    with pytest.raises(RuntimeError), HashingWriter(tmp_path / "broken.bin") as out:
        out.write(b"partial")
        raise RuntimeError("conversion failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
