"""Xet formats without a server: hashes against hf_xet (the oracle), xorb and shard round trips, fuzzing."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from pathlib import Path

import hf_xet
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubkit.hub.xet.hashing import (
    chunk_hash,
    file_hash,
    hash_from_hex,
    hash_hex,
    range_hash,
    xorb_hash,
)
from hubkit.hub.xet.shard import FileRecord, FileTerm, dedup_shard, parse_shard, upload_shard
from hubkit.hub.xet.xorb import (
    MAX_XORB_CHUNKS,
    XetFormatError,
    XorbIndex,
    XorbScanner,
    feed_chunk_data,
    iter_chunk_data,
    scan_xorb,
    serialize_xorb,
)

CHUNKS = [os.urandom(20_000), b"a" * 70_000, bytes(range(256)) * 120]


def test_hash_strings_follow_the_spec_example() -> None:
    # Xet spec, "Converting Hashes to Strings": each 8-byte group is a little-endian u64. (The spec's
    # own example string drops the "10" of the third group; this is the value its procedure gives.)
    raw = bytes(range(32))
    assert hash_hex(raw) == "07060504030201000f0e0d0c0b0a09081716151413121110" + "1f1e1d1c1b1a1918"
    assert hash_from_hex(hash_hex(raw)) == raw
    with pytest.raises(ValueError):
        hash_from_hex("0" * 63 + "G")


@pytest.mark.parametrize("size", [1, 5000, 8191])
def test_single_chunk_file_hash_matches_hf_xet(tmp_path: Path, size: int) -> None:
    # Files under the 8 KiB minimum chunk are one chunk, so the chunker does not matter here.
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    (info,) = hf_xet.hash_files([str(path)])
    assert hash_hex(file_hash([(chunk_hash(data), size)])) == info.hash


def test_merkle_tree_shapes() -> None:
    # Different chunk lists give different roots; the file hash is the xorb root re-keyed.
    pairs = [(chunk_hash(bytes([i]) * 100), 100) for i in range(40)]
    roots = {xorb_hash(pairs[:n]) for n in (1, 2, 3, 9, 10, 40)}
    assert len(roots) == 6
    assert xorb_hash(pairs[:1]) == pairs[0][0]  # a lone chunk is its own root
    assert file_hash(pairs) != xorb_hash(pairs)
    assert range_hash([p[0] for p in pairs[:3]]) != range_hash([p[0] for p in pairs[1:4]])


@pytest.mark.parametrize("scheme", [0, 1, 2])
@pytest.mark.parametrize("footer", [True, False])
def test_xorb_round_trip(scheme: int, footer: bool) -> None:
    xhash, blob = serialize_xorb(CHUNKS, scheme, footer=footer)
    index = scan_xorb(io.BytesIO(blob), len(blob))
    assert index.hash == xhash
    assert [c.size for c in index.chunks] == [len(c) for c in CHUNKS]
    assert b"".join(iter_chunk_data(io.BytesIO(blob), index.chunks)) == b"".join(CHUNKS)
    assert XorbIndex.from_bytes(index.to_bytes()) == index


@pytest.mark.parametrize("scheme", [0, 1, 2])
def test_chunk_data_fed_in_blocks_is_the_content(scheme: int) -> None:
    # More than one 1 MiB read block, in scan_xorb and in feed_chunk_data (the sha256 of a shard's files)
    chunks = [os.urandom(90_000) + bytes(10_000) for _ in range(24)]
    xhash, blob = serialize_xorb(chunks, scheme, footer=False)
    index = scan_xorb(io.BytesIO(blob), len(blob))
    assert index.hash == xhash
    for part in (index.chunks, index.chunks[5:19]):
        fed = io.BytesIO()  # copies each view while it is valid
        feed_chunk_data(io.BytesIO(blob), part, fed.write)
        assert fed.getvalue() == b"".join(iter_chunk_data(io.BytesIO(blob), part))
    with pytest.raises(XetFormatError, match="shorter than its index"):
        feed_chunk_data(io.BytesIO(blob[:-1]), index.chunks, lambda data: None)


def test_tampered_xorb_hashes_differently_or_is_refused() -> None:
    xhash, blob = serialize_xorb(CHUNKS, 0, footer=False)
    tampered = bytearray(blob)
    tampered[100] ^= 1  # inside the first chunk's payload
    assert scan_xorb(io.BytesIO(bytes(tampered)), len(tampered)).hash != xhash
    _, with_footer = serialize_xorb(CHUNKS, 0)
    tampered = bytearray(with_footer)
    tampered[100] ^= 1  # now the footer's chunk hashes disagree
    with pytest.raises(XetFormatError, match="footer"):
        scan_xorb(io.BytesIO(bytes(tampered)), len(tampered))


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x00\x05\x00\x00\x00\x05\x00\x00abc",  # truncated payload
        b"\x01\x05\x00\x00\x00\x05\x00\x00abcde",  # header version 1
        b"\x00\x05\x00\x00\x07\x05\x00\x00abcde",  # unknown scheme
        b"\x00\x05\x00\x00\x00\x06\x00\x00abcde",  # scheme none with two lengths
        b"\x00\x05\x00\x00\x01\x05\x00\x00abcde",  # not an LZ4 frame
        b"\x00\x00\x00\x03\x00\x00\x00\x03",  # over the chunk size limit
    ],
)
def test_malformed_xorbs_are_refused(blob: bytes) -> None:
    with pytest.raises(XetFormatError):
        scan_xorb(io.BytesIO(blob), len(blob))


def _file_record(xhash: bytes, *, sha256: bytes | None = None) -> FileRecord:
    hashes = [chunk_hash(c) for c in CHUNKS]
    fhash = file_hash(list(zip(hashes, map(len, CHUNKS), strict=True)))
    term = FileTerm(xhash, sum(map(len, CHUNKS)), 0, len(CHUNKS))
    digest = hashlib.sha256(b"".join(CHUNKS)).hexdigest()
    return FileRecord(fhash, (term,), (range_hash(hashes),), sha256 or hash_from_hex(digest))


def test_shard_round_trip_and_dedup_answer() -> None:
    xhash, blob = serialize_xorb(CHUNKS)
    index = scan_xorb(io.BytesIO(blob), len(blob))
    record = _file_record(xhash)
    shard = parse_shard(upload_shard([record], [index]))
    assert shard.files == (record,)
    (listed,) = shard.xorbs
    assert [c.hash for c in listed.chunks] == [c.hash for c in index.chunks]
    assert [c.start for c in listed.chunks] == [0, len(CHUNKS[0]), len(CHUNKS[0]) + len(CHUNKS[1])]
    answer = parse_shard(dedup_shard([index]))  # with its 200-byte footer
    assert answer.files == () and answer.xorbs == shard.xorbs


@pytest.mark.parametrize(
    ("cut", "match"),
    [(10, "magic"), (60, "ends inside"), (-48, "ends inside"), (-1, "ends inside")],
)
def test_malformed_shards_are_refused(cut: int, match: str) -> None:
    xhash, blob = serialize_xorb(CHUNKS)
    data = upload_shard([_file_record(xhash)], [scan_xorb(io.BytesIO(blob), len(blob))])
    with pytest.raises(XetFormatError, match=match):
        parse_shard(data[:cut])


def _mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """Bit flips, cuts, insertions and overwrites of a valid body, plus plain noise."""
    n = len(valid)

    def flip(pos: int, bit: int) -> bytes:
        out = bytearray(valid)
        out[pos % n] ^= 1 << bit
        return bytes(out)

    return st.one_of(
        st.builds(flip, st.integers(0, n - 1), st.integers(0, 7)),
        st.integers(0, n - 1).map(lambda k: valid[:k]),
        st.builds(
            lambda k, junk: valid[:k] + junk + valid[k:],
            st.integers(0, n),
            st.binary(min_size=1, max_size=64),
        ),
        st.builds(
            lambda k, junk: valid[:k] + junk + valid[k + len(junk) :],
            st.integers(0, n),
            st.binary(min_size=1, max_size=64),
        ),
        st.binary(max_size=512),
    )


_XORB = serialize_xorb([os.urandom(3000), b"z" * 9000], 1)[1]
_SHARD = upload_shard(
    [_file_record(serialize_xorb(CHUNKS)[0])],
    [scan_xorb(io.BytesIO(serialize_xorb(CHUNKS)[1]), len(serialize_xorb(CHUNKS)[1]))],
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(_XORB))
def test_fuzzed_xorbs_parse_or_raise_format_errors(blob: bytes) -> None:
    with contextlib.suppress(XetFormatError):
        scan_xorb(io.BytesIO(blob), len(blob))


def _fed(blob: bytes, cuts: list[int]) -> XorbIndex:
    scanner, last = XorbScanner(), 0
    for cut in [*sorted({c % (len(blob) + 1) for c in cuts}), len(blob)]:
        scanner.feed(blob[last:cut])
        last = cut
    return scanner.finish()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0, 1, 2]), st.booleans(), st.lists(st.integers(0, 1 << 20), max_size=12))
def test_xorb_fed_in_any_pieces_gives_the_index_of_the_whole(
    scheme: int, footer: bool, cuts: list[int]
) -> None:
    # The CAS verifies uploads piece by piece as they arrive: any split must give the same verified index.
    xhash, blob = serialize_xorb(CHUNKS, scheme, footer=footer)
    assert _fed(blob, cuts) == scan_xorb(io.BytesIO(blob), len(blob))
    assert _fed(blob, cuts).hash == xhash


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(_XORB), st.lists(st.integers(0, 1 << 15), max_size=6))
def test_fuzzed_xorbs_fed_in_pieces_agree_with_the_whole(blob: bytes, cuts: list[int]) -> None:
    try:
        whole: XorbIndex | None = scan_xorb(io.BytesIO(blob), len(blob))
    except XetFormatError:
        whole = None
    try:
        pieces: XorbIndex | None = _fed(blob, cuts)
    except XetFormatError:
        pieces = None
    assert pieces == whole


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(_SHARD))
def test_fuzzed_shards_parse_or_raise_format_errors(blob: bytes) -> None:
    with contextlib.suppress(XetFormatError):
        parse_shard(blob)


def test_xorb_limits_count_contents_not_headers() -> None:
    # 64 MiB of incompressible chunks serialize to a little more than 64 MiB: still one valid xorb.
    too_many = b"".join(bytes([0, 1, 0, 0, 0, 1, 0, 0, 7]) for _ in range(MAX_XORB_CHUNKS + 1))
    with pytest.raises(XetFormatError, match="exceeds"):
        scan_xorb(io.BytesIO(too_many), len(too_many))
    xhash, blob = serialize_xorb([bytes([i % 251]) * 1 for i in range(300)], 0)
    assert scan_xorb(io.BytesIO(blob), len(blob)).hash == xhash
