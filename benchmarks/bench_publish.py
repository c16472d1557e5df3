#!/usr/bin/env python3
"""Benchmark: publishing 10 checkpoints of a resnet50-sized timm run, hubkit vs the common way.

The run is built with timm's own CheckpointSaver by ``bench_convert.build_run`` (EMA weights + SGD
momentum: about 300 MB per checkpoint, no real training). Each variant runs in its own client process
against its own local hub server process (``python -m hubkit.hub``, fresh data dir, so no variant profits
from objects another one stored), measured side by side in one run:

- ``common``: for each checkpoint ``torch.load(weights_only=True)`` + ``safetensors.torch.save_file`` of
  the EMA weights + ``create_branch`` + ``upload_folder`` with the unmodified ``HfApi`` (what a
  hand-written release script does);
- ``hubkit``: ``hubkit publish RUN --select all --no-verify`` (branches through staging, cards, hubkit.json,
  main with curves; verification is off because the synthetic run has no eval data);
- ``rerun``: the same hubkit command again (the no-op path).

Reported per variant: wall time, client CPU, bytes read / written by client and server (``/proc/<pid>/io``
rchar / wchar: every byte through read/write syscalls) and peak RSS of client and server (psutil polling
every 20 ms + the kernel's VmHWM). The checkpoint files are read once before each variant (warm cache).

    .venv/bin/python benchmarks/bench_publish.py                       # 10 x resnet50
    .venv/bin/python benchmarks/bench_publish.py --checkpoints 3 --model resnet18 --workdir /tmp/bp
    .venv/bin/python benchmarks/bench_publish.py --dynamics-pairs 2     # hubkit with vs --no-dynamics

``--dynamics-pairs N`` measures instead N back-to-back pairs of ``hubkit`` (default: with the training
dynamics) and ``hubkit --no-dynamics``, each on a fresh hub, and prints their wall times.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from hubkit.hub import LocalHubProcess

TOKEN = "bench-token-123456"
HERE = Path(__file__).resolve().parent

COMMON = textwrap.dedent(
    """
    import argparse, sys
    from pathlib import Path
    import torch, safetensors.torch
    from huggingface_hub import HfApi
    run_dir, out_dir, endpoint, token, repo = sys.argv[1:6]
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo, exist_ok=True)
    for path in sorted(Path(run_dir).glob("checkpoint-*.pth.tar"), key=lambda p: int(p.name.split("-")[1].split(".")[0])):
        epoch = int(path.name.split("-")[1].split(".")[0])
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        folder = Path(out_dir) / f"epoch-{epoch:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        safetensors.torch.save_file(ckpt["state_dict_ema"], folder / "model.safetensors")
        del ckpt
        api.create_branch(repo, branch=f"epoch-{epoch:03d}", exist_ok=True)
        api.upload_folder(repo_id=repo, folder_path=folder, revision=f"epoch-{epoch:03d}")
    """
)

HUBKIT = textwrap.dedent(
    """
    import sys
    from hubkit.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        if exc.code:
            raise
    """
)


def _io(pid: int) -> dict[str, int]:
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return {k: int(v) for k, v in fields.items()}


def _hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return 0.0


class Watch:
    """Polls a process's RSS every 20 ms and keeps its last /proc io counters (they vanish at exit)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_mib, self.io = pid, 0.0, {"rchar": 0, "wchar": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        proc = psutil.Process(self.pid)
        while not self._stop.is_set():
            try:
                self.peak_mib = max(self.peak_mib, proc.memory_info().rss / 2**20, _hwm_mib(self.pid))
                self.io = _io(self.pid)
            except (psutil.Error, OSError):
                return
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_variant(argv: list[str], server: LocalHubProcess) -> dict[str, Any]:
    """Run one client process; return wall, CPU, io and peak RSS of client and server."""
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # reset the server's VmHWM
    server_io0 = _io(server.pid)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = Watch(proc.pid)
    server_watch = Watch(server.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the client, now waited for (not the server)
    cpu = children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
    watch.stop()
    server_watch.stop()
    if proc.returncode:
        raise RuntimeError(f"{argv[:4]} failed:\n{err[-3000:]}")
    server_io = _io(server.pid)
    return {
        "wall_s": wall,
        "client_cpu_s": cpu,
        "client_read": watch.io["rchar"],
        "client_written": watch.io["wchar"],
        "client_peak_mib": watch.peak_mib,
        "server_read": server_io["rchar"] - server_io0["rchar"],
        "server_written": server_io["wchar"] - server_io0["wchar"],
        "server_peak_mib": server_watch.peak_mib,
        "report": json.loads(out) if out.strip().startswith("{") else None,
    }


def warm(run_dir: Path) -> None:
    for path in run_dir.glob("*.pth.tar"):
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def hubkit_argv(run_dir: Path, endpoint: str, *extra: str) -> list[str]:
    """``hubkit publish RUN --select all --no-verify --json`` in a fresh interpreter."""
    argv = [sys.executable, "-c", HUBKIT, "publish", str(run_dir), "--endpoint", endpoint, "--token", TOKEN]
    return [*argv, "--repo", "bench/hubkit", "--select", "all", "--no-verify", "--json", *extra]


def compare_dynamics(base: Path, run_dir: Path, pairs: int) -> None:
    """``pairs`` back-to-back pairs: hubkit publish (dynamics on, the default), then with --no-dynamics."""
    rows = []
    for pair in range(1, pairs + 1):
        walls, cpus = [], []
        for extra in ((), ("--no-dynamics",)):
            data = base / "hub-dynamics"
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(base / "xdg-cache", ignore_errors=True)  # no local records: a cold publish
            with LocalHubProcess(data, token=TOKEN) as server:
                warm(run_dir)
                result = run_variant(hubkit_argv(run_dir, server.endpoint, *extra), server)
            walls.append(result["wall_s"])
            cpus.append(result["client_cpu_s"])
            print(pair, extra or "(dynamics)", f"{result['wall_s']:.1f} s, CPU {cpus[-1]:.1f} s", flush=True)
        rows.append((*walls, *cpus))
    print(
        "\n| pair | default (dynamics) | --no-dynamics | difference | client CPU: default / --no-dynamics |"
    )
    print("|---|---|---|---|---|")
    for pair, (on, off, cpu_on, cpu_off) in enumerate(rows, start=1):
        print(
            f"| {pair} | {on:.1f} s | {off:.1f} s | {on - off:+.1f} s ({(on - off) / off:+.0%}) | "
            f"{cpu_on:.1f} s / {cpu_off:.1f} s ({cpu_on - cpu_off:+.1f} s) |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--workdir", default=None, help="keep the run here (default: a temp dir, removed)")
    parser.add_argument(
        "--dynamics-pairs", type=int, default=0, help="N pairs: hubkit with vs without --no-dynamics"
    )
    args = parser.parse_args()

    spec = importlib.util.spec_from_file_location("bench_convert", HERE / "bench_convert.py")
    assert spec and spec.loader
    bench_convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_convert)

    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="hubkit-bench-publish-"))
    run_dir = base / "run"
    try:
        if not run_dir.exists():
            t0 = time.perf_counter()
            bench_convert.build_run(run_dir, args.model, args.checkpoints)
            print(f"built {args.checkpoints} checkpoints in {time.perf_counter() - t0:.0f} s", flush=True)
        sizes = [p.stat().st_size for p in run_dir.glob("checkpoint-*.pth.tar")]
        print(f"run: {len(sizes)} checkpoints, {sum(sizes) / len(sizes) / 2**20:.0f} MiB each", flush=True)
        env_cache = base / "xdg-cache"  # hubkit's local records start empty: the first publish is cold
        shutil.rmtree(env_cache, ignore_errors=True)
        os.environ["XDG_CACHE_HOME"] = str(env_cache)
        os.environ["HF_HOME"] = str(base / "hf-home")
        if args.dynamics_pairs:
            compare_dynamics(base, run_dir, args.dynamics_pairs)
            return
        results: dict[str, dict[str, Any]] = {}
        for name in ("common", "hubkit"):
            data = base / f"hub-{name}"
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(base / "out-common", ignore_errors=True)
            with LocalHubProcess(data, token=TOKEN) as server:
                warm(run_dir)
                if name == "common":
                    argv = [
                        sys.executable,
                        "-c",
                        COMMON,
                        str(run_dir),
                        str(base / "out-common"),
                        server.endpoint,
                    ]
                    argv += [TOKEN, "bench/common"]
                    results[name] = run_variant(argv, server)
                else:
                    argv = [
                        sys.executable,
                        "-c",
                        HUBKIT,
                        "publish",
                        str(run_dir),
                        "--endpoint",
                        server.endpoint,
                    ]
                    argv += [
                        "--token",
                        TOKEN,
                        "--repo",
                        "bench/hubkit",
                        "--select",
                        "all",
                        "--no-verify",
                        "--json",
                    ]
                    results["hubkit"] = run_variant(argv, server)
                    results["rerun"] = run_variant(argv, server)
            print(name, {k: v for k, v in results[name].items() if k != "report"}, flush=True)
        print("rerun", {k: v for k, v in results["rerun"].items() if k != "report"}, flush=True)

        mib = 2**20
        print(
            "\n| variant | wall | client read / written | server read / written | peak RSS client / server |"
        )
        print("|---|---|---|---|---|")
        for name, r in results.items():
            print(
                f"| {name} | {r['wall_s']:.1f} s | {r['client_read'] / mib:,.0f} / {r['client_written'] / mib:,.0f} MiB | "
                f"{r['server_read'] / mib:,.0f} / {r['server_written'] / mib:,.0f} MiB | "
                f"{r['client_peak_mib']:,.0f} / {r['server_peak_mib']:,.0f} MiB |"
            )
        ratio = results["hubkit"]["wall_s"] / results["common"]["wall_s"]
        print(
            f"\nhubkit / common wall time: {ratio:.2f}x (target <= 0.4x); re-run no-op: {results['rerun']['wall_s']:.2f} s"
        )
        for name in ("hubkit", "rerun"):
            report = results[name]["report"] or {}
            print(
                f"{name} stage durations (s): {report.get('durations')}; commits {report.get('commits')}, "
                f"uploaded {report.get('uploaded_bytes', 0) / mib:,.0f} MiB"
            )
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
