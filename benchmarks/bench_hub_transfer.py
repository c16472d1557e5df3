"""Upload/download throughput and peak memory of the local hub, next to a plain file copy.

Runs the server (``python -m hubkit.hub``) and each client phase in their own processes, so that the
peak RSS of both sides can be measured (psutil polling every 20 ms, plus the client's own
``ru_maxrss``). Phases, all on the same file of ``--size-mb`` random bytes on the same disk:

* ``copy``: ``shutil.copyfile`` + fsync (the floor to compare with);
* ``upload-streaming``: hubkit's route, ``hub_api().create_commit([streaming_add(...)])`` (LFS multipart);
* ``upload-regular``: the unmodified default client, ``HfApi.upload_file(path)`` (base64 in NDJSON);
* ``download``: ``hf_hub_download`` into a fresh cache.

Usage::

    .venv/bin/python benchmarks/bench_hub_transfer.py --size-mb 1024 [--workdir DIR] [--skip-regular]

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
    elif phase == "upload-regular":
        HfApi(endpoint=endpoint, token=token).upload_file(path_or_fileobj=path, path_in_repo="r.safetensors",
                                                          repo_id="localuser/bench")
    else:
        hf_hub_download("localuser/bench", "s.safetensors", endpoint=endpoint, token=token, cache_dir=cache)
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
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size_mb):
            # vary each MiB so no two blocks are equal (no accidental dedup anywhere)
            f.write(i.to_bytes(8, "little") + block[8:])


def run_phase(
    phase: str, endpoint: str, server_pid: int, src: Path, cache: Path, script: Path
) -> dict[str, float]:
    server = PeakRss(server_pid)
    proc = subprocess.Popen(
        [sys.executable, str(script), phase, endpoint, TOKEN, str(src), str(cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    parser.add_argument("--skip-regular", action="store_true", help="skip the default-client base64 route")
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
        with LocalHubProcess(work / "hub", token=TOKEN, env=env) as hub:
            from huggingface_hub import HfApi

            HfApi(endpoint=hub.endpoint, token=TOKEN).create_repo("localuser/bench")
            phases = ["upload-streaming", "download"] + ([] if args.skip_regular else ["upload-regular"])
            for phase in phases:
                rows.append(
                    (phase, run_phase(phase, hub.endpoint, hub.pid, src, work / f"cache-{phase}", script))
                )
        copy_rate = size_mb / rows[0][1]["seconds"]
        print(f"file: {size_mb:.0f} MB random bytes; workdir {work}")
        print("| phase | seconds | MB/s | vs copy | client peak RSS (MB) | server peak RSS (MB) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, r in rows:
            rate = size_mb / r["seconds"]
            client = f"{r['client_mb']:.0f}" if "client_mb" in r else "–"
            server = f"{r['server_mb']:.0f}" if "server_mb" in r else "–"
            print(
                f"| {name} | {r['seconds']:.2f} | {rate:.0f} | {rate / copy_rate:.2f} | {client} | {server} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
