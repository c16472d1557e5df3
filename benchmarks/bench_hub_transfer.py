"""Upload/download throughput and peak memory of the local hub, next to a plain file copy.

Runs the server (``python -m hubkit.hub``) and each client phase in their own processes, so that the
peak RSS of both sides can be measured (psutil polling every 20 ms, plus the client's own
``ru_maxrss``). Phases, all on the same file of ``--size-mb`` random bytes on the same disk:

* ``copy``: ``shutil.copyfile`` + fsync (the floor to compare with);
* ``upload-streaming``: hubkit's route, ``hub_api().create_commit([streaming_add(...)])`` (LFS multipart);
* ``download``: ``hf_hub_download`` of that file into a fresh cache (plain GET);
* ``upload-xet``: the unmodified default client, ``HfApi.upload_file(path)``, through the hub's Xet CAS;
* ``download-xet``: ``hf_hub_download`` of that file (hf_xet reconstructs it from the CAS);
* ``download-xet-plain``: the same with ``HF_HUB_DISABLE_XET=1`` (the server reconstructs while streaming);
* ``upload-xet-90%``: a second file sharing 90 % of its bytes with the first (10 % rewritten in the
  middle), from a client with empty caches; the row reports the xorb bytes the CAS had to store;
* ``upload-regular`` (``--with-regular``, hub started with ``--no-xet``): the default client's
  pre-Xet route, base64 in NDJSON.

Usage::

    .venv/bin/python benchmarks/bench_hub_transfer.py --size-mb 1024 [--workdir DIR] [--with-regular]

Prints a Markdown table (paste into benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil

from hubkit.hub import LocalHubProcess

TOKEN = "bench-token-123456"
CLIENT = textwrap.dedent(
    """
    import json, os, resource, sys, time
    from pathlib import Path
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    from huggingface_hub import HfApi, hf_hub_download
    from hubkit.hub.client import hub_api, streaming_add
    phase, endpoint, token, path, cache = sys.argv[1:]
    t0 = time.perf_counter()
    if phase == "upload-streaming":
        hub_api(endpoint, token).create_commit("localuser/bench", operations=[streaming_add("s.safetensors", Path(path))],
                                               commit_message="streaming")
    elif phase.startswith("upload-"):  # regular (hub without Xet) or Xet (the default hub)
        name = {"upload-regular": "r", "upload-xet": "x"}.get(phase, "x90")
        HfApi(endpoint=endpoint, token=token).upload_file(path_or_fileobj=path, path_in_repo=f"{name}.safetensors",
                                                          repo_id="localuser/bench")
    else:
        name = "x" if phase.startswith("download-xet") else "s"
        hf_hub_download("localuser/bench", f"{name}.safetensors", endpoint=endpoint, token=token, cache_dir=cache)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


class PeakRss:
    """Polls the RSS of a process (and its children) in a thread; ``peak_mb`` after ``stop``."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss
                rss += sum(c.memory_info().rss for c in self.proc.children(recursive=True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.02)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def write_random(path: Path, size_mb: int) -> None:
    # Fresh random bytes for every MiB: Xet's content-defined chunks must find nothing to share.
    with open(path, "wb") as f:
        for _ in range(size_mb):
            f.write(os.urandom(1 << 20))


def write_variant(src: Path, dst: Path) -> None:
    """``src`` with 10 % of its bytes (a block in the middle) rewritten: a 90 %-shared "next epoch"."""
    size = src.stat().st_size
    start, length = size // 2, size // 10
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
        fout.seek(start)
        for done in range(0, length, 1 << 20):
            fout.write(os.urandom(min(1 << 20, length - done)))


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_phase(
    phase: str, endpoint: str, server_pid: int, src: Path, cache: Path, script: Path, env: dict[str, str]
) -> dict[str, float]:
    server = PeakRss(server_pid)
    proc = subprocess.Popen(
        [sys.executable, str(script), phase, endpoint, TOKEN, str(src), str(cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    client = PeakRss(proc.pid)
    out, err = proc.communicate()
    client_peak, server_peak = client.stop(), server.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return {
        "seconds": result["seconds"],
        "client_mb": max(client_peak, result["maxrss_mb"]),
        "server_mb": server_peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the test file, copies and hub data live"
    )
    parser.add_argument(
        "--with-regular",
        action="store_true",
        help="also run the pre-Xet default-client base64 route (~4 GB RAM)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hubkit-bench-", dir=args.workdir))
    try:
        src = work / "weights.safetensors"
        write_random(src, args.size_mb)
        size_mb = src.stat().st_size / 1e6
        rows: list[tuple[str, dict[str, float]]] = []

        t0 = time.perf_counter()
        shutil.copyfile(src, work / "copy.bin")
        with open(work / "copy.bin", "rb+") as f:
            os.fsync(f.fileno())
        rows.append(("copy (shutil.copyfile + fsync)", {"seconds": time.perf_counter() - t0}))
        (work / "copy.bin").unlink()

        script = work / "client.py"
        script.write_text(CLIENT)
        env = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(work / "hf")}
        variant = work / "epoch2.safetensors"
        write_variant(src, variant)
        notes: dict[str, str] = {}
        with LocalHubProcess(work / "hub", token=TOKEN, env=env) as hub:
            from huggingface_hub import HfApi

            HfApi(endpoint=hub.endpoint, token=TOKEN).create_repo("localuser/bench")
            xorbs = work / "hub" / "xet" / "xorbs"
            phases = [
                ("upload-streaming", src, env),
                ("download", src, env),
                ("upload-xet", src, env),
                ("download-xet", src, env),
                ("download-xet-plain", src, {**env, "HF_HUB_DISABLE_XET": "1"}),
                ("upload-xet-90%", variant, {**env, "HF_HOME": str(work / "hf-fresh")}),
            ]
            for phase, path, phase_env in phases:
                stored = tree_bytes(xorbs) if xorbs.exists() else 0
                cache = work / f"cache-{phase.replace('%', '')}"
                rows.append((phase, run_phase(phase, hub.endpoint, hub.pid, path, cache, script, phase_env)))
                if phase.startswith("upload-xet"):
                    new = tree_bytes(xorbs) - stored
                    notes[phase] = f"CAS stored {new / 1e6:.1f} MB of xorbs ({new / path.stat().st_size:.1%})"
        if args.with_regular:
            with LocalHubProcess(work / "hub-noxet", token=TOKEN, env=env, xet=False) as hub:
                HfApi(endpoint=hub.endpoint, token=TOKEN).create_repo("localuser/bench")
                rows.append(
                    (
                        "upload-regular",
                        run_phase("upload-regular", hub.endpoint, hub.pid, src, work / "c", script, env),
                    )
                )
        copy_rate = size_mb / rows[0][1]["seconds"]
        print(f"file: {size_mb:.0f} MB random bytes; workdir {work}")
        print("| phase | seconds | MB/s | vs copy | client peak RSS (MB) | server peak RSS (MB) | note |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, r in rows:
            rate = size_mb / r["seconds"]
            client = f"{r['client_mb']:.0f}" if "client_mb" in r else "–"
            server = f"{r['server_mb']:.0f}" if "server_mb" in r else "–"
            print(
                f"| {name} | {r['seconds']:.2f} | {rate:.0f} | {rate / copy_rate:.2f} | {client} | {server} "
                f"| {notes.get(name, '')} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
