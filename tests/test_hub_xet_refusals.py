"""Every lying or malformed Xet upload is refused with its status, and the store stays as it was."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubkit.hub import LocalHub
from hubkit.hub.xet import tokens
from hubkit.hub.xet.hashing import chunk_hash, file_hash, hash_from_hex, hash_hex, range_hash
from hubkit.hub.xet.shard import FileRecord, FileTerm, upload_shard
from hubkit.hub.xet.xorb import MAX_XORB_BODY, XorbIndex, scan_xorb, serialize_xorb

TOKEN = "xet-refusal-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def xhub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(tmp_path_factory.mktemp("xet-refusals"), token=TOKEN) as server:
        httpx2.post(f"{server.endpoint}/api/repos/create", json={"name": "r"}, headers=AUTH)
        yield server


def _token(hub: LocalHub, kind: str = "write") -> tuple[str, dict[str, str]]:
    r = httpx2.get(f"{hub.endpoint}/api/models/localuser/r/xet-{kind}-token/main", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.headers["x-xet-cas-url"], {"Authorization": f"Bearer {r.headers['x-xet-access-token']}"}


def _store(hub: LocalHub) -> list[str]:
    """Everything the CAS and the object store hold (uploads in progress excluded)."""
    roots = [hub.data_dir / "xet", hub.data_dir / "objects"]
    return sorted(
        str(p.relative_to(hub.data_dir))
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and "tmp" not in p.relative_to(hub.data_dir).parts
    )


class Upload:
    """A fresh, valid upload: one xorb of random chunks and the shard declaring one file made of it."""

    def __init__(self, n_chunks: int = 3, scheme: int = 1) -> None:
        self.chunks = [os.urandom(9000 + 1000 * i) for i in range(n_chunks)]
        self.xorb_hash, self.xorb = serialize_xorb(self.chunks, scheme)
        self.index: XorbIndex = scan_xorb(io.BytesIO(self.xorb), len(self.xorb))
        hashes = [chunk_hash(c) for c in self.chunks]
        self.content = b"".join(self.chunks)
        self.sha256 = hashlib.sha256(self.content).hexdigest()
        self.file = FileRecord(
            file_hash=file_hash(list(zip(hashes, map(len, self.chunks), strict=True))),
            terms=(FileTerm(self.xorb_hash, len(self.content), 0, n_chunks),),
            verification=(range_hash(hashes),),
            sha256=hash_from_hex(self.sha256),
        )

    def shard(self, file: FileRecord | None = None, *, listed: bool = True) -> bytes:
        return upload_shard([file or self.file], [self.index] if listed else [])


def _post_xorb(cas: str, auth: dict[str, str], xorb_hash: bytes | str, body: bytes) -> httpx2.Response:
    name = xorb_hash if isinstance(xorb_hash, str) else hash_hex(xorb_hash)
    return httpx2.post(f"{cas}/v1/xorbs/default/{name}", content=body, headers=auth)


def _refused(response: httpx2.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    if code is not None:
        assert response.headers["x-error-code"] == code, response.text


def test_a_hand_built_upload_is_accepted_and_committable(xhub: LocalHub) -> None:
    cas, auth = _token(xhub)
    up = Upload(scheme=2)
    r = _post_xorb(cas, auth, up.xorb_hash, up.xorb)
    assert r.status_code == 200 and r.json() == {"was_inserted": True}
    assert _post_xorb(cas, auth, up.xorb_hash, up.xorb).json() == {"was_inserted": False}
    assert httpx2.post(f"{cas}/v1/shards", content=up.shard(), headers=auth).status_code == 200
    header = {"key": "header", "value": {"summary": "xet file"}}
    line = {
        "key": "lfsFile",
        "value": {"path": "w.bin", "algo": "sha256", "oid": up.sha256, "size": len(up.content)},
    }
    body = "\n".join(json.dumps(x) for x in (header, line)).encode()
    commit = httpx2.post(
        f"{xhub.endpoint}/api/models/localuser/r/commit/main",
        content=body,
        headers={**AUTH, "content-type": "application/x-ndjson"},
    )
    assert commit.status_code == 200, commit.text
    assert httpx2.get(f"{xhub.endpoint}/localuser/r/resolve/main/w.bin").content == up.content


def test_tampered_xorb_is_refused(xhub: LocalHub) -> None:
    cas, auth = _token(xhub)
    up = Upload(scheme=0)
    _, bare = serialize_xorb(up.chunks, 0, footer=False)
    tampered = bytearray(bare)
    tampered[50] ^= 0xFF  # one byte of the first chunk: its chunks now hash to another xorb
    before = _store(xhub)
    _refused(_post_xorb(cas, auth, up.xorb_hash, bytes(tampered)), 400, "InvalidXorb")
    with_footer = bytearray(up.xorb)
    with_footer[50] ^= 0xFF  # the same with the footer: it no longer matches its chunks
    _refused(_post_xorb(cas, auth, up.xorb_hash, bytes(with_footer)), 400, "InvalidXorb")
    assert _store(xhub) == before


@pytest.mark.parametrize(
    ("mangle", "status", "code"),
    [
        (lambda up: (hash_hex(Upload().xorb_hash), up.xorb), 400, "InvalidXorb"),  # right body, other hash
        (lambda up: (hash_hex(up.xorb_hash), up.xorb[: len(up.xorb) // 2]), 400, "InvalidXorb"),  # truncated
        (lambda up: (hash_hex(up.xorb_hash), b""), 400, "InvalidXorb"),  # empty
        (lambda up: ("not-a-hash", up.xorb), 400, "InvalidHash"),
        (lambda up: (hash_hex(up.xorb_hash).upper(), up.xorb), 400, "InvalidHash"),
    ],
    ids=["wrong-hash", "truncated", "empty", "malformed-hash", "uppercase-hash"],
)
def test_lying_or_broken_xorbs_are_refused(
    xhub: LocalHub, mangle: Callable[[Upload], tuple[str, bytes]], status: int, code: str
) -> None:
    cas, auth = _token(xhub)
    name, body = mangle(Upload())
    before = _store(xhub)
    _refused(_post_xorb(cas, auth, name, body), status, code)
    assert _store(xhub) == before


def test_oversized_xorb_is_refused_before_its_body(xhub: LocalHub) -> None:
    cas, auth = _token(xhub)
    url = urlsplit(cas)
    request = (
        f"POST {url.path}/v1/xorbs/default/{'0' * 64} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Length: {MAX_XORB_BODY + 1}\r\n\r\n"
    ).encode()
    before = _store(xhub)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request + b"x" * 1024)
        answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413") and "PayloadTooLarge" in answer
    assert _store(xhub) == before


def test_shard_naming_missing_xorb_is_refused(xhub: LocalHub) -> None:
    cas, auth = _token(xhub)
    up = Upload()  # its xorb is never uploaded
    before = _store(xhub)
    _refused(httpx2.post(f"{cas}/v1/shards", content=up.shard(), headers=auth), 400, "XorbNotFound")
    _refused(
        httpx2.post(f"{cas}/v1/shards", content=up.shard(listed=False), headers=auth), 400, "XorbNotFound"
    )
    assert _store(xhub) == before


@pytest.mark.parametrize(
    ("lie", "code"),
    [
        (lambda f: replace(f, file_hash=os.urandom(32)), "FileHashMismatch"),
        (lambda f: replace(f, verification=(os.urandom(32),)), "VerificationFailed"),
        (lambda f: replace(f, verification=None), "VerificationMissing"),
        (lambda f: replace(f, sha256=os.urandom(32)), "Sha256Mismatch"),
        (lambda f: replace(f, terms=(replace(f.terms[0], size=f.terms[0].size + 1),)), "InvalidTerm"),
        (lambda f: replace(f, terms=(replace(f.terms[0], end=9),)), "InvalidTerm"),
    ],
    ids=["file-hash", "verification", "no-verification", "sha256", "term-size", "term-range"],
)
def test_shards_with_wrong_hashes_are_refused(
    xhub: LocalHub, lie: Callable[[FileRecord], FileRecord], code: str
) -> None:
    cas, auth = _token(xhub)
    up = Upload()
    assert _post_xorb(cas, auth, up.xorb_hash, up.xorb).status_code == 200
    before = _store(xhub)
    lying = lie(up.file)
    _refused(httpx2.post(f"{cas}/v1/shards", content=up.shard(lying), headers=auth), 400, code)
    assert _store(xhub) == before
    if lying.sha256 != up.file.sha256 and lying.sha256 is not None:
        # The sha256 it lied about cannot be committed either: the hub never registered it.
        header = {"key": "header", "value": {"summary": "lie"}}
        line = {"key": "lfsFile", "value": {"path": "x.bin", "algo": "sha256", "oid": hash_hex(lying.sha256)}}
        commit = httpx2.post(
            f"{xhub.endpoint}/api/models/localuser/r/commit/main",
            content="\n".join(json.dumps(x) for x in (header, line)).encode(),
            headers={**AUTH, "content-type": "application/x-ndjson"},
        )
        _refused(commit, 400, "LfsObjectNotFound")


def test_malformed_shard_is_refused(xhub: LocalHub) -> None:
    cas, auth = _token(xhub)
    for body in (b"", b"not a shard" * 10, Upload().shard()[:-20]):
        _refused(httpx2.post(f"{cas}/v1/shards", content=body, headers=auth), 400, "InvalidShard")


def test_tokens_are_checked(xhub: LocalHub) -> None:
    cas, write = _token(xhub)
    _, read = _token(xhub, "read")
    up = Upload()
    secret = (xhub.data_dir / "secret").read_bytes().strip()
    expired = tokens.mint(secret, "write", "model:localuser/r", ttl_s=-5).token
    forged = write["Authorization"][:-4] + "0000"
    before = _store(xhub)
    for auth, status in [
        ({}, 401),
        ({"Authorization": forged}, 401),
        ({"Authorization": f"Bearer {expired}"}, 401),
        ({"Authorization": f"Bearer {TOKEN}"}, 401),  # the hub token is not a Xet token
        (read, 403),
    ]:
        assert _post_xorb(cas, auth, up.xorb_hash, up.xorb).status_code == status
        assert httpx2.post(f"{cas}/v1/shards", content=up.shard(), headers=auth).status_code == status
    assert _store(xhub) == before
    # A write token needs the hub token; a read token of a public repo does not.
    assert httpx2.get(f"{xhub.endpoint}/api/models/localuser/r/xet-write-token/main").status_code == 401
    assert httpx2.get(f"{xhub.endpoint}/api/models/localuser/r/xet-read-token/main").status_code == 200
    assert httpx2.get(f"{cas}/v1/reconstructions/{'0' * 64}", headers=read).status_code == 404


def test_downloads_check_signatures_and_ranges(xhub: LocalHub) -> None:
    cas, auth = _token(xhub)
    up = Upload()
    _post_xorb(cas, auth, up.xorb_hash, up.xorb)
    httpx2.post(f"{cas}/v1/shards", content=up.shard(), headers=auth)
    name = hash_hex(up.file.file_hash)
    recon = httpx2.get(f"{cas}/v1/reconstructions/{name}", headers={**auth, "Range": "bytes=9500-10500"})
    assert recon.status_code == 200
    body = recon.json()
    # Chunks are 9000, 10000 and 11000 bytes: bytes 9500..10500 all lie in the second one.
    (term0,) = body["terms"]
    assert term0["range"] == {"start": 1, "end": 2} and term0["unpacked_length"] == 10000
    assert body["offset_into_first_range"] == 9500 - 9000
    (fetch,) = body["fetch_info"][term0["hash"]]
    span = fetch["url_range"]
    got = httpx2.get(fetch["url"], headers={"Range": f"bytes={span['start']}-{span['end']}"})
    assert got.status_code == 206 and got.content == up.xorb[span["start"] : span["end"] + 1]
    assert httpx2.get(fetch["url"].replace("&s=", "&s=0")).status_code == 403
    _refused(
        httpx2.get(f"{cas}/v1/reconstructions/{name}", headers={**auth, "Range": "bytes=99999999-"}), 416
    )
    for path in ("/v2/shards", f"/v1/xorb-grants/default/{name}", f"/v2/reconstructions/{name}"):
        assert httpx2.post(f"{cas}{path}", headers=auth).status_code == 404  # hf_xet falls back to v1


def _mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    n = len(valid)
    return st.one_of(
        st.builds(
            lambda k, b: valid[:k] + bytes([valid[k] ^ (1 << b)]) + valid[k + 1 :],
            st.integers(0, n - 1),
            st.integers(0, 7),
        ),
        st.integers(0, n - 1).map(lambda k: valid[:k]),
        st.builds(
            lambda k, junk: valid[:k] + junk + valid[k:],
            st.integers(0, n),
            st.binary(min_size=1, max_size=48),
        ),
        st.binary(max_size=256),
    )


_FUZZ = Upload(n_chunks=2)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(xorb=_mutations(_FUZZ.xorb), shard=_mutations(_FUZZ.shard()))
def test_fuzzed_uploads_never_get_a_500(xhub: LocalHub, xorb: bytes, shard: bytes) -> None:
    cas, auth = _token(xhub)
    name = hash_hex(_FUZZ.xorb_hash) if uuid.uuid4().int % 2 else hash_hex(chunk_hash(xorb))
    assert _post_xorb(cas, auth, name, xorb).status_code in (200, 400)
    assert httpx2.post(f"{cas}/v1/shards", content=shard, headers=auth).status_code in (200, 400)


def test_data_dir_layout_is_documented(xhub: LocalHub) -> None:
    assert {p.name for p in (xhub.data_dir / "xet").iterdir()} >= {
        "xorbs",
        "files",
        "sha256",
        "chunks",
        "tmp",
    }
    assert Path(xhub.data_dir / "xet" / "tmp").is_dir()
