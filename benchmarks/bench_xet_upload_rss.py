"""Peak RSS of the unmodified default client uploading one large file through the local hub's Xet CAS.

Each run: a fresh hub process (fresh data dir), a fresh client process with an empty ``HF_HOME``,
``HfApi(endpoint, token).upload_file(path)`` of the same file of random bytes (huggingface_hub +
hf_xet with their defaults). A thread samples every 20 ms the client's RSS (plus children), the
server's RSS, and the xorb uploads the server is receiving at that moment (its ``xet/tmp`` files).
Reported per run: seconds, client peak (the larger of the samples and ``ru_maxrss``), server peak,
the most xorb uploads in flight, and the client's RSS after its imports (before the upload starts).

Usage::

    .venv/bin/python benchmarks/bench_xet_upload_rss.py --size-mb 1024 --runs 5 [--workdir DIR]
        [--trace trace.csv]

``--trace`` writes the samples of every run (run, t, client MB, server MB, xorbs in flight). ``--pin``
(Linux, 2 CPUs or more) runs the client on CPU 0 and the hub on CPU 1, so that neither takes the other's
core, as when the hub is another machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    from huggingface_hub import HfApi
    import hf_xet  # huggingface_hub imports it on the first Xet upload anyway
    endpoint, token, path = sys.argv[1:]
    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"imported_mb": imported}), flush=True)
    t0 = time.perf_counter()
    HfApi(endpoint=endpoint, token=token).upload_file(path_or_fileobj=path, path_in_repo="x.safetensors",
                                                      repo_id="localuser/bench")
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


def rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    except psutil.Error:
        return 0


class Sampler:
    """Samples client RSS, server RSS and the server's in-flight xorb uploads every 20 ms."""

    def __init__(self, client_pid: int, server_pid: int, xet_tmp: Path) -> None:
        self.client, self.server, self.xet_tmp = (
            psutil.Process(client_pid),
            psutil.Process(server_pid),
            xet_tmp,
        )
        self.samples: list[tuple[float, float, float, int]] = []
        self._stop = threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            in_flight = sum(1 for _ in self.xet_tmp.glob("xorb-*")) if self.xet_tmp.is_dir() else 0
            self.samples.append(
                (
                    time.perf_counter() - self._t0,
                    rss(self.client) / 2**20,
                    rss(self.server) / 2**20,
                    in_flight,
                )
            )
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _pin_process(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` onto ``cpus`` (threads it starts later inherit it)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(task), cpus)


def one_run(
    work: Path, src: Path, script: Path, index: int, pin: bool = False
) -> tuple[dict[str, float], list[tuple[float, ...]]]:
    env = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(work / f"hf-{index}")}
    data = work / f"hub-{index}"
    with LocalHubProcess(data, token=TOKEN, env=env) as hub:
        from huggingface_hub import HfApi

        HfApi(endpoint=hub.endpoint, token=TOKEN).create_repo("localuser/bench")
        if pin:
            _pin_process(hub.pid, {1})
        proc = subprocess.Popen(
            [sys.executable, str(script), hub.endpoint, TOKEN, str(src)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if pin else None,
        )
        sampler = Sampler(proc.pid, hub.pid, data / "xet" / "tmp")
        out, err = proc.communicate()
        sampler.stop()
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(work / f"hf-{index}", ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"upload failed:\n{err[-3000:]}")
    lines = [json.loads(line) for line in out.strip().splitlines()]
    result = {
        "seconds": lines[-1]["seconds"],
        "client_mb": max(max(s[1] for s in sampler.samples), lines[-1]["maxrss_mb"]),
        "server_mb": max(s[2] for s in sampler.samples),
        "in_flight": max(s[3] for s in sampler.samples),
        "imported_mb": lines[0]["imported_mb"],
    }
    return result, [(index, *s) for s in sampler.samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--trace", type=Path, default=None, help="CSV of every sample")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="client on CPU 0, hub on CPU 1: neither takes the other's core, as with a hub on another machine",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hubkit-xetrss-", dir=args.workdir))
    try:
        src = work / "weights.safetensors"
        with open(src, "wb") as f:  # fresh random bytes: nothing for Xet to deduplicate
            for _ in range(args.size_mb):
                f.write(os.urandom(1 << 20))
        script = work / "client.py"
        script.write_text(CLIENT)
        results, trace = [], []
        print(
            "| run | seconds | client peak RSS (MB) | after imports (MB) | server peak RSS (MB) | xorbs in flight (max) |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for i in range(args.runs):
            r, samples = one_run(work, src, script, i, args.pin)
            results.append(r)
            trace += samples
            print(
                f"| {i + 1} | {r['seconds']:.2f} | {r['client_mb']:.0f} | {r['imported_mb']:.0f} "
                f"| {r['server_mb']:.0f} | {r['in_flight']:.0f} |",
                flush=True,
            )
        peaks = sorted(r["client_mb"] for r in results)
        print(
            f"\nclient peak RSS over {len(peaks)} runs: min {peaks[0]:.0f}, median {statistics.median(peaks):.0f}, "
            f"max {peaks[-1]:.0f} MB; server max {max(r['server_mb'] for r in results):.0f} MB"
        )
        if args.trace:
            with open(args.trace, "w") as f:
                f.write("run,t,client_mb,server_mb,in_flight\n")
                f.writelines(
                    ",".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in s) + "\n" for s in trace
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
