"""The local hub's pages and ``/api/models`` over real HTTP (no browser: see test_hub_pages_browser.py).

One module hub with a public repo (card, image, branches incl. ``feat/x``), a private repo and a repo
with a large file; each test checks one rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from huggingface_hub import HfApi

from hubkit.hub import LocalHub
from hubkit.hub.pages.markdown import CardPlace, render_card

TOKEN = "pages-test-token-456"
CARD = """---
license: apache-2.0
library_name: timm
tags: [image-classification, digits]
datasets: [digits]
model-index:
- name: tiny
  results:
  - task: {type: image-classification, name: Image Classification}
    dataset: {name: digits, type: digits}
    metrics: [{type: accuracy, name: top-1, value: 97.5}]
---
# Tiny model

| epoch | top1 |
|---|---|
| 0 | 50.0 |

```python
import timm
```

![curves](training_curves.png) [config](config.json) [out](../../etc/passwd)
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(tmp_path_factory.mktemp("pages-hub"), token=TOKEN) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKEN)
        api.create_repo("localuser/tiny")
        api.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id="localuser/tiny")
        api.upload_file(
            path_or_fileobj=b"\x89PNG\r\n\x1a\n" + bytes(64),
            path_in_repo="training_curves.png",
            repo_id="localuser/tiny",
        )
        api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id="localuser/tiny")
        api.create_branch("localuser/tiny", branch="epoch-000")
        api.create_branch("localuser/tiny", branch="feat/x")
        api.upload_file(path_or_fileobj=b'{"a": 2}', path_in_repo="config.json", repo_id="localuser/tiny")
        api.create_repo("localuser/hidden", private=True)
        api.create_repo("other/big")
        api.upload_file(path_or_fileobj=b"x" * 600_000, path_in_repo="notes.txt", repo_id="other/big")
        yield server


@pytest.fixture
def client(hub: LocalHub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.endpoint) as c:
        yield c


PAGES = [
    "/",
    "/localuser/tiny",
    "/localuser/tiny/tree/epoch-000",
    "/localuser/tiny/tree/feat%2Fx",
    "/localuser/tiny/blob/main/config.json",
    "/localuser/tiny/commits/main",
    "/localuser/tiny/revisions",
    "/localuser/tiny/compare?a=epoch-000&b=main",
    "/login",
    "/localuser/missing",
    "/_pages/pages.css",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_the_csp(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'none'" in csp and "img-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


def test_model_page_renders_card_panel_and_snippet(client: httpx.Client, hub: LocalHub) -> None:
    html = client.get("/localuser/tiny").text
    assert "<h1>Tiny model</h1>" in html and "<table>" in html and '<span class="kn">import</span>' in html
    assert re.search(r'<img src="/localuser/tiny/resolve/[0-9a-f]{40}/training_curves.png"', html)
    assert 'href="/localuser/tiny/blob/main/config.json"' in html
    assert "etc/passwd" not in html  # a relative link leaving the repo is dropped
    assert 'id="meta-license">apache-2.0<' in html and "97.5" in html
    assert f"os.environ[&#34;HF_ENDPOINT&#34;] = &#34;{hub.endpoint}&#34;" in html
    assert "timm.create_model(&#34;hf-hub:localuser/tiny&#34;, pretrained=True)" in html
    assert TOKEN not in html


def test_revision_with_a_slash_works_encoded_and_plain(client: httpx.Client) -> None:
    for path in ("/localuser/tiny/tree/feat%2Fx", "/localuser/tiny/tree/feat/x"):
        r = client.get(path)
        assert r.status_code == 200 and "<code>feat/x</code>" in r.text


def test_snippet_pins_the_revision(client: httpx.Client) -> None:
    assert "hf-hub:localuser/tiny@epoch-000" in client.get("/localuser/tiny/tree/epoch-000").text


def test_private_repo_needs_the_token_on_pages_and_api(client: httpx.Client, hub: LocalHub) -> None:
    assert client.get("/localuser/hidden").status_code == 404
    assert "localuser/hidden" not in client.get("/").text
    assert "localuser/hidden" not in [m.id for m in HfApi(endpoint=hub.endpoint).list_models()]
    assert "localuser/hidden" in [m.id for m in HfApi(endpoint=hub.endpoint, token=TOKEN).list_models()]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/localuser/hidden", headers=bearer).status_code == 200


def test_login_sets_a_strict_httponly_cookie_that_is_not_the_token(client: httpx.Client) -> None:
    assert client.post("/login", data={"token": "wrong"}).status_code == 401
    r = client.post("/login", data={"token": TOKEN})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    assert client.get("/localuser/hidden").status_code == 200
    assert "localuser/hidden" in client.get("/").text


def test_pages_refuse_other_methods(client: httpx.Client) -> None:
    assert client.post("/localuser/tiny").status_code == 405
    assert client.delete("/localuser/tiny/tree/main").status_code == 405


def test_path_traversal_and_unknown_files(client: httpx.Client) -> None:
    assert client.get("/localuser/tiny/blob/main/%2e%2e/%2e%2e/etc/passwd").status_code == 400
    assert client.get("/localuser/tiny/blob/main/nope.txt").status_code == 404
    assert client.get("/localuser/tiny/tree/no-such-rev").status_code == 404


def test_large_blob_shows_metadata_not_content(client: httpx.Client) -> None:
    r = client.get("/other/big/blob/main/notes.txt")
    assert r.status_code == 200 and 'id="too-large"' in r.text and "xxxxxxxxxx" not in r.text


def test_resolve_never_renders_as_a_document(client: httpx.Client) -> None:
    r = client.get("/localuser/tiny/resolve/main/README.md")
    assert r.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in r.headers["content-security-policy"]


def test_list_models_filters_like_the_hub(hub: LocalHub) -> None:
    api = HfApi(endpoint=hub.endpoint)
    assert [m.id for m in api.list_models(author="localuser")] == ["localuser/tiny"]
    assert [m.id for m in api.list_models(search="BIG")] == ["other/big"]
    assert len(list(api.list_models(limit=1))) == 1
    assert [m.id for m in api.list_models(filter="timm")] == ["localuser/tiny"]
    tiny = next(iter(api.list_models(author="localuser", full=True)))
    assert tiny.library_name == "timm" and "license:apache-2.0" in tiny.tags and tiny.sha


def test_list_models_paginates_with_a_link_header(client: httpx.Client) -> None:
    r = client.get("/api/models", params={"limit": 1})
    assert len(r.json()) == 1 and 'rel="next"' in r.headers["link"]
    nxt = r.headers["link"].split(">")[0].lstrip("<")
    assert client.get(nxt).json()[0]["id"] != r.json()[0]["id"]


def test_commit_and_compare_pages(client: httpx.Client, hub: LocalHub) -> None:
    commits = HfApi(endpoint=hub.endpoint).list_repo_commits("localuser/tiny")
    html = client.get(f"/localuser/tiny/commit/{commits[0].commit_id}").text
    assert "config.json" in html and "d-add" in html and "d-del" in html
    compare = client.get("/localuser/tiny/compare", params={"a": "epoch-000", "b": "main"}).text
    assert '<span class="status modified">modified</span>' in compare


XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[a](javascript:alert(1))",
    '<a href="javascript:alert(1)">b</a>',
    '<svg onload="alert(1)"><script>alert(1)</script></svg>',
    '<iframe src="http://203.0.113.9/"></iframe>',
    "![r](http://203.0.113.9/x.png)",
    '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    '<span style="background:url(http://203.0.113.9/)">s</span>',
    '<a href="https://example.org" onclick="alert(1)">c</a>',
    "<form action=http://203.0.113.9/><input></form>",
    '<meta http-equiv="refresh" content="0;url=http://203.0.113.9/">',
    '<object data="http://203.0.113.9/x"></object>',
]


@pytest.mark.parametrize("snippet", XSS)
def test_sanitiser_drops_scripts_handlers_and_remote_loads(snippet: str) -> None:
    html = render_card(snippet, CardPlace("o/n", "main", "0" * 40, frozenset())).html.lower()
    bad = ("<script", " onerror=", " onload=", " onclick=", 'href="javascript', "<iframe", "<svg", " style=",
           "<form", "<meta", "<object", 'src="data:', 'src="http')  # fmt: skip
    for pattern in bad:
        assert pattern not in html, (snippet, html)


def test_card_cache_is_keyed_by_content_and_filled_per_place(tmp_path: Path) -> None:
    text = "# Card\n\n![c](curves.png) [cfg](config.json)\n"
    files = frozenset({"curves.png", "config.json"})
    first = render_card(text, CardPlace("o/n", "main", "a" * 40, files), tmp_path)
    cached = list(tmp_path.glob("*.html"))
    assert len(cached) == 1 and "__hubkit_commit__" in cached[0].read_text()
    other = render_card(text, CardPlace("o/m", "feat/x", "b" * 40, files), tmp_path)
    assert f"/o/n/resolve/{'a' * 40}/curves.png" in first.html and "/o/n/blob/main/config.json" in first.html
    assert (
        f"/o/m/resolve/{'b' * 40}/curves.png" in other.html and "/o/m/blob/feat%2Fx/config.json" in other.html
    )
    without_image = render_card(
        text, CardPlace("o/n", "main", "a" * 40, frozenset({"config.json"})), tmp_path
    )
    assert "<img" in without_image.html and "src=" not in without_image.html.split("<img")[1].split(">")[0]


def test_a_pushed_card_is_rendered_into_the_cache(hub: LocalHub) -> None:
    cards = hub.data_dir / "cache" / "cards"
    assert any(p.suffix == ".html" for p in cards.iterdir())  # the module fixture's README commit
