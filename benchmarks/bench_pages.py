"""Server-side render time of the local hub's pages for a repo with 50 revisions and a 100 KB card.

Builds the repo through the unmodified client (``HfApi.create_commit``): 50 commits on ``main``, each
with its own ~100 KB README (front matter with a model-index, tables, code blocks, the curves image),
``hubkit.json``, ``verification.json`` (typed records from :mod:`hubkit.layout`), a small weights file
and the curves PNG, and a branch ``epoch-NNN`` at each. The hub runs in its own process
(``LocalHubProcess``); each page is fetched over one keep-alive connection and timed twice: the
server's own ``Server-Timing: page;dur=…`` (building the view and rendering it: the target's
"server-side") and the client's wall time.

Usage::

    .venv/bin/python benchmarks/bench_pages.py [--revisions 50] [--card-kb 100] [--repeat 20]

Prints a Markdown table (paste into benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from huggingface_hub import CommitOperationAdd, HfApi

from hubkit.hub import LocalHubProcess
from hubkit.layout import (
    FileRecord,
    HubkitRecord,
    MetricCheck,
    RunRecord,
    VerificationRecord,
)

TOKEN = "bench-pages-token-123"
REPO = "local/bench-pages"
TARGET_MS = 100.0


def card(epoch: int, size_kb: int) -> str:
    """A README of about ``size_kb`` KB that exercises every renderer path (tables, code, images, links)."""
    head = f"""---
license: apache-2.0
library_name: timm
tags: [image-classification, timm, bench]
datasets: [digits]
model-index:
- name: bench-pages
  results:
  - task: {{type: image-classification, name: Image Classification}}
    dataset: {{name: digits, type: digits}}
    metrics:
    - {{type: accuracy, name: Top-1 accuracy, value: {50 + epoch * 0.8:.2f}}}
    - {{type: accuracy, name: Top-5 accuracy, value: {80 + epoch * 0.3:.2f}}}
---
# bench-pages, epoch {epoch}

![Training curves](training_curves.png)

"""
    parts = [head]
    section = 0
    while sum(len(p) for p in parts) < size_kb * 1000:
        rows = "\n".join(
            f"| {section}.{i} | {epoch} | {0.5 + i / 100:.4f} | `lr={1e-3 / (i + 1):.2e}` |"
            for i in range(20)
        )
        parts.append(
            f"""## Section {section}

Paragraph with **bold**, _italic_, a [relative link](config.json), an [external one](https://huggingface.co/docs)
and `inline code`. Epoch {epoch} of the run, section {section}: words words words words words words words.

| step | epoch | loss | note |
|---:|---:|---:|---|
{rows}

```python
import timm
model = timm.create_model("hf-hub:{REPO}@epoch-{epoch:03d}", pretrained=True)
for step in range({section}):
    loss = model(x).mean()  # section {section}
```

- item one of section {section}
- item two, with a <span>span</span> and <b>bold</b> HTML

"""
        )
        section += 1
    return "".join(parts)


def records(epoch: int, weights: bytes) -> tuple[bytes, bytes]:
    import hashlib

    top1 = 50 + epoch * 0.8
    run = RunRecord(
        name="bench", framework="timm", architecture="test_resnet", epochs=50, primary_metric="eval_top1"
    )
    hubkit = HubkitRecord(
        revision=f"epoch-{epoch:03d}",
        run=run,
        epoch=epoch,
        weights="ema",
        hubkit_version="0.1.0",
        files={"model.safetensors": FileRecord(len(weights), hashlib.sha256(weights).hexdigest())},
        metrics={"eval_top1": top1, "eval_top5": 80 + epoch * 0.3, "eval_loss": 2.0 - epoch / 50},
    )
    verification = VerificationRecord(
        repo_id=REPO,
        revision=f"epoch-{epoch:03d}",
        commit=None,
        library="timm",
        passed=True,
        epoch=epoch,
        weights="ema",
        metrics={"top1": top1 - 0.1},
        checks=(MetricCheck("top1", top1 - 0.1, top1, 0.5, "summary.csv eval_top1"),),
    )
    return hubkit.to_json(), verification.to_json()


def build(endpoint: str, revisions: int, card_kb: int) -> None:
    api = HfApi(endpoint=endpoint, token=TOKEN)
    api.create_repo(REPO)
    png = _png()
    frozen = os.urandom(48_000)  # layers that never change, as with a frozen backbone
    for epoch in range(revisions):
        weights = frozen + os.urandom(16_000)
        hubkit_json, verification_json = records(epoch, weights)
        ops = [
            CommitOperationAdd("README.md", card(epoch, card_kb).encode()),
            CommitOperationAdd("config.json", b'{"architecture": "test_resnet", "num_classes": 10}'),
            CommitOperationAdd("hubkit.json", hubkit_json),
            CommitOperationAdd("verification.json", verification_json),
            CommitOperationAdd("model.safetensors", weights),
            CommitOperationAdd("training_curves.png", png),
        ]
        api.create_commit(REPO, operations=ops, commit_message=f"epoch {epoch}")
        api.create_branch(REPO, branch=f"epoch-{epoch:03d}")


def _png() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3), dpi=60)
    ax.plot(range(50), [2 - i / 30 for i in range(50)])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def fetch(conn: http.client.HTTPConnection, path: str) -> tuple[float, float, int]:
    """``(server ms, wall ms, status)`` of one GET."""
    t0 = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    wall = (time.perf_counter() - t0) * 1000
    timing = response.getheader("Server-Timing") or ""
    server = float(timing.split("dur=")[1]) if "dur=" in timing else float("nan")
    return server, wall, response.status


def summary(name: str, samples: list[tuple[float, float, int]]) -> str:
    assert all(s[2] == 200 for s in samples), f"{name}: {[s[2] for s in samples if s[2] != 200]}"
    server = sorted(s[0] for s in samples)
    wall = sorted(s[1] for s in samples)
    p95 = server[min(len(server) - 1, int(0.95 * len(server)))]
    ok = "yes" if max(server) <= TARGET_MS else "no"
    return (
        f"| {name} | {len(samples)} | {statistics.median(server):.1f} | {p95:.1f} | {max(server):.1f} | "
        f"{statistics.median(wall):.1f} | {ok} |"
    )


def uncached_render_ms(card_kb: int, runs: int = 3) -> list[float]:
    """What pre-rendering saves: the card of a fresh epoch rendered with empty caches."""
    from hubkit.hub.pages.markdown import CardPlace, render_card

    out = []
    for epoch in range(1000, 1000 + runs):
        place = CardPlace(REPO, "main", "0" * 40, frozenset({"training_curves.png", "config.json"}))
        t0 = time.perf_counter()
        render_card(card(epoch, card_kb), place)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=50)
    parser.add_argument("--card-kb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp,
        LocalHubProcess(Path(tmp), token=TOKEN) as hub,
    ):
        t0 = time.perf_counter()
        build(hub.endpoint, args.revisions, args.card_kb)
        built = time.perf_counter() - t0
        url = urlsplit(hub.endpoint)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)
        last = f"epoch-{args.revisions - 1:03d}"
        rows = []
        HfApi(endpoint=hub.endpoint, token=TOKEN).create_repo("local/warm-up")
        fetch(conn, "/local/warm-up")  # compiles the templates (once per server process)
        first = [fetch(conn, f"/{REPO}/tree/epoch-{e:03d}") for e in range(args.revisions)]
        rows.append(
            summary("model page, first view of each revision (card pre-rendered at its commit)", first)
        )
        pages = {
            "model page `main` (card cached)": f"/{REPO}",
            "revisions (one row per ref: 51)": f"/{REPO}/revisions",
            "compare `epoch-000` … `main` (two 100 KB cards diffed)": f"/{REPO}/compare?a=epoch-000&b=main",
            "compare neighbours (`epoch-048` … `epoch-049`)": f"/{REPO}/compare?a=epoch-048&b={last}",
            "commits of `main` (51 commits)": f"/{REPO}/commits/main",
            "a commit (five files changed, text diffs)": None,
            "blob `README.md` (100 KB: over 64 KB, shown plain)": f"/{REPO}/blob/main/README.md",
            "index `/`": "/",
        }
        commit_id = HfApi(endpoint=hub.endpoint).list_repo_commits(REPO)[0].commit_id
        pages["a commit (five files changed, text diffs)"] = f"/{REPO}/commit/{commit_id}"
        for name, path in pages.items():
            assert path is not None
            fetch(conn, path)  # first view: template compile, caches
            rows.append(summary(name, [fetch(conn, path) for _ in range(args.repeat)]))
        api_wall = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            list(HfApi(endpoint=hub.endpoint).list_models(author="local"))
            api_wall.append((time.perf_counter() - t) * 1000)
        conn.close()
    print(f"repo built in {built:.1f} s ({args.revisions} revisions, {args.card_kb} KB cards)")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs\n")
    print(
        "| page | requests | server median ms | server p95 ms | server max ms | client wall median ms | max <= 100 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    print(f"\n`HfApi().list_models(author='local')`: client wall median {statistics.median(api_wall):.1f} ms")
    print(
        f"A {args.card_kb} KB card rendered without any cache (markdown-it-py + Pygments + nh3, in process): ",
        end="",
    )
    print(", ".join(f"{ms:.0f}" for ms in uncached_render_ms(args.card_kb)) + " ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
