"""The local hub's pages in a real headless browser (Debian's chromium + chromium-driver, via selenium).

The example timm run is published with hubkit (two epochs + main, verified), then a reader clicks through
it the way they would on huggingface.co. A README full of XSS attempts must execute nothing and load
nothing from outside the hub. One browser and one hub serve the whole module. ``make test`` installs the
browser (``make browser``); without it these tests skip, saying so.

Screenshots of the model page go to the test's tmp dir; ``HUBKIT_UPDATE_SCREENSHOT=1`` also writes the
README's ``docs/img/model-page.png``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import hubkit
from huggingface_hub import HfApi

from hubkit.hub import LocalHub

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "browser-test-token-789"
REPO = "local/timm-digits"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
XSS_CARD = """---
license: mit
---
# XSS corpus

<script>alert("script")</script>
<img src=x onerror="alert('onerror')">
<img src="training_curves.png" onload="alert('onload')">
[click](javascript:alert('md-link'))
<a href="javascript:alert('a-href')">a</a>
<svg><script>alert('svg')</script><circle onload="alert('svg2')"/></svg>
![remote](http://203.0.113.9/track.png)
![data](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)
[![nested](http://203.0.113.9/n.png)](javascript:alert('nested'))
<iframe src="http://203.0.113.9/frame"></iframe>
<iframe srcdoc="<script>alert('srcdoc')</script>"></iframe>
<link rel="stylesheet" href="http://203.0.113.9/x.css">
<style>body { background: url(http://203.0.113.9/bg.png) }</style>
<div style="background:url(http://203.0.113.9/div.png)">styled</div>
<object data="http://203.0.113.9/o"></object><embed src="http://203.0.113.9/e">
<form action="http://203.0.113.9/f"><button>go</button></form>
<meta http-equiv="refresh" content="0;url=http://203.0.113.9/">
<base href="http://203.0.113.9/">
<video src="http://203.0.113.9/v.mp4" autoplay></video>
<img srcset="http://203.0.113.9/s.png 1x">

![ok](training_curves.png)
"""

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip(
        f"no chromium/chromedriver at {CHROMIUM} / {CHROMEDRIVER}: run `make browser` as root "
        "(apt-get install chromium chromium-driver) to run the browser tests",
        allow_module_level=True,
    )
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])"
)
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


def _hubkit(*argv: str) -> tuple[int, str]:
    code, out, err = hubkit(*argv)
    return code, err + out


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, timm_run_dir: Path) -> Iterator[LocalHub]:
    """The example run published as ``local/timm-digits`` (epochs 0 and 1 + main), an XSS card, a private repo."""
    with LocalHub(tmp_path_factory.mktemp("browser-hub"), token=TOKEN) as server:
        code, output = _hubkit(
            "publish", str(timm_run_dir), "--endpoint", server.endpoint, "--token", TOKEN,
            "--repo", REPO, "--select", "epochs:0,1", "--device", "cpu",
        )  # fmt: skip
        assert code == 0, output
        api = HfApi(endpoint=server.endpoint, token=TOKEN)
        api.create_repo("local/xss")
        curves = api.hf_hub_download(REPO, "training_curves.png")
        api.upload_file(path_or_fileobj=curves, path_in_repo="training_curves.png", repo_id="local/xss")
        api.upload_file(path_or_fileobj=XSS_CARD.encode(), path_in_repo="README.md", repo_id="local/xss")
        api.create_repo("local/hidden", private=True)
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        "--window-size=1280,1000", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _no_alert(driver: Any) -> None:
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    pytest.fail(f"an alert fired: {text!r}")


def _requests(driver: Any) -> list[str]:
    """URLs the page asked for since the last call (Chrome's performance log, Network domain)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _follow(driver: Any, by: str, selector: str) -> None:
    """Click a link or submit button and wait until the next page has loaded."""
    before = driver.current_url
    driver.find_element(by, selector).click()
    WebDriverWait(driver, 20).until(
        lambda d: d.current_url != before and d.execute_script("return document.readyState") == "complete"
    )


def _image_loaded(driver: Any, selector: str) -> bool:
    images = driver.find_elements(By.CSS_SELECTOR, selector)
    assert images, f"no image matches {selector}"
    return all(
        driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i) for i in images
    )


def test_click_through_a_published_run(browser: Any, hub: LocalHub, tmp_path: Path) -> None:
    browser.get(hub.endpoint + "/")
    _follow(browser, By.LINK_TEXT, REPO)
    assert browser.current_url == f"{hub.endpoint}/{REPO}"
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#model-card h1, #model-card h2")]
    assert headings and any("Training" in h for h in headings), headings
    assert _image_loaded(browser, "#model-card img[src*='training_curves.png']")
    assert browser.find_element(By.ID, "meta-library").text == "timm"
    snippet = browser.find_element(By.CSS_SELECTOR, "#use-this-model code").text
    assert f'"HF_ENDPOINT"] = "{hub.endpoint}"' in snippet and f"hf-hub:{REPO}" in snippet
    shot = tmp_path / "model-page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("HUBKIT_UPDATE_SCREENSHOT"):
        from PIL import Image  # matplotlib's dependency: a 64-colour palette keeps the README's PNG small

        Image.open(shot).convert("RGB").quantize(colors=64).save(
            ROOT / "docs" / "img" / "model-page.png", optimize=True
        )

    browser.find_element(By.CSS_SELECTOR, "#revision-switcher summary").click()
    _follow(browser, By.CSS_SELECTOR, "#revision-switcher a[data-ref='epoch-000']")
    assert browser.current_url.endswith(f"/{REPO}/tree/epoch-000")
    assert browser.find_element(By.CSS_SELECTOR, "#revision-switcher summary code").text == "epoch-000"
    assert f"hf-hub:{REPO}@epoch-000" in browser.find_element(By.CSS_SELECTOR, "#use-this-model code").text
    rows = {
        r.find_element(By.CSS_SELECTOR, "td a").text: r.text
        for r in browser.find_elements(By.CSS_SELECTOR, "tr.file-row")
    }
    assert {"model.safetensors", "config.json", "hubkit.json", "verification.json", "README.md"} <= set(rows)
    assert "Xet" in rows["model.safetensors"] or "LFS" in rows["model.safetensors"]
    browser.save_screenshot(str(tmp_path / "model-page-epoch-000.png"))

    _follow(browser, By.ID, "tab-commits")
    _follow(browser, By.CSS_SELECTOR, "a.commit-link")
    assert "/commit/" in browser.current_url
    assert len(browser.find_element(By.ID, "commit-id").text) == 40

    _follow(browser, By.ID, "tab-revisions")
    revs = [r.get_attribute("data-rev") for r in browser.find_elements(By.CSS_SELECTOR, "tr.revision-row")]
    assert revs[:2] == ["epoch-000", "epoch-001"] and "main" in revs
    assert "verified" in browser.find_element(By.CSS_SELECTOR, "tr.revision-row[data-rev='epoch-000']").text
    browser.save_screenshot(str(tmp_path / "revisions.png"))

    _follow(browser, By.ID, "tab-compare")
    assert browser.find_element(By.ID, "compare-a").text == "epoch-000"
    assert browser.find_element(By.ID, "compare-b").text == "main"
    assert "model.safetensors" in browser.find_element(By.ID, "compare-files").text
    assert browser.find_elements(By.CSS_SELECTOR, "#compare-metrics tbody tr")
    browser.save_screenshot(str(tmp_path / "compare.png"))
    _no_alert(browser)


def test_xss_corpus_executes_and_loads_nothing(browser: Any, hub: LocalHub) -> None:
    browser.get_log("browser"), _requests(browser)  # start from empty logs
    browser.get(f"{hub.endpoint}/local/xss")
    assert browser.find_element(By.CSS_SELECTOR, "#model-card h1").text == "XSS corpus"
    assert _image_loaded(browser, "#model-card img[src*='training_curves.png']")
    _no_alert(browser)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    sent = _requests(browser)
    assert any("training_curves.png" in u for u in sent), sent  # the log sees the page's requests
    left = [u for u in sent if not u.startswith(hub.endpoint + "/")]
    assert left == []
    for link in browser.find_elements(By.CSS_SELECTOR, "#model-card a"):
        assert not (link.get_attribute("href") or "").startswith("javascript:")


def test_private_repo_shows_after_login_only(browser: Any, hub: LocalHub) -> None:
    browser.delete_all_cookies()
    browser.get(f"{hub.endpoint}/local/hidden")
    assert "404" in browser.find_element(By.CSS_SELECTOR, "h1").text
    browser.get(f"{hub.endpoint}/")
    assert "local/hidden" not in browser.page_source
    _follow(browser, By.LINK_TEXT, "Log in")
    browser.find_element(By.NAME, "token").send_keys(TOKEN)
    _follow(browser, By.CSS_SELECTOR, "form.login button")
    assert "local/hidden" in browser.find_element(By.CSS_SELECTOR, ".repo-list").text
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: scripts cannot read it
    assert TOKEN not in browser.page_source
    browser.delete_all_cookies()


def test_list_models_sees_what_the_pages_show(hub: LocalHub) -> None:
    api = HfApi(endpoint=hub.endpoint)
    assert {m.id for m in api.list_models(author="local")} == {REPO, "local/xss"}
    assert [m.id for m in api.list_models(search="digits")] == [REPO]
    assert len(list(api.list_models(author="local", limit=1))) == 1
    assert "local/hidden" in {
        m.id for m in HfApi(endpoint=hub.endpoint, token=TOKEN).list_models(author="local")
    }
