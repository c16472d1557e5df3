#!/usr/bin/env python3
"""Benchmark: train the MMPreTrain digits example and publish its work_dir to a local hub.

1. ``examples/mmpretrain_digits/train.py`` (MMPreTrain's own ``tools/train.py``, 5 epochs, all digits):
   wall time of the whole script (two interpreter starts: the script and the runner).
2. ``hubkit publish WORK_DIR --select all`` against a fresh local hub (its own server process): wall time,
   with verification (each revision downloaded again, reloaded with MMPreTrain's ``get_model`` and
   re-evaluated on the validation folder) and the rerun (the no-op path), each a new ``hubkit`` process.

    .venv/bin/python benchmarks/bench_publish_mmpretrain.py [--workdir /tmp/bpm]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-123456"


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-mmpretrain-"))
    shutil.rmtree(work, ignore_errors=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HUBKIT_HOME": str(work / "home")}
    train_s, _ = _timed(
        [
            sys.executable,
            str(ROOT / "examples" / "mmpretrain_digits" / "train.py"),
            "--output",
            str(work / "run"),
        ],
        env,
    )
    work_dir = work / "run" / "work_dir"
    port = 8791
    server = subprocess.Popen(
        [sys.executable, "-m", "hubkit.hub", "--data", str(work / "hub"), "--port", str(port), "--token", TOKEN],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(3)
        hubkit = str(Path(sys.executable).parent / "hubkit")
        base = [hubkit, "publish", str(work_dir), "--select", "all", "--device", "cpu"]
        base += ["--endpoint", f"http://127.0.0.1:{port}", "--token", TOKEN, "--json"]
        publish_s, out = _timed([*base, "--repo", "bench/mmpretrain-digits"], env)
        report = json.loads(out)
        rerun_s, _ = _timed([*base, "--repo", "bench/mmpretrain-digits"], env)
        noverify_s, _ = _timed([*base, "--repo", "bench/mmpretrain-noverify", "--no-verify"], env)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        json.dumps(
            {
                "train_s": round(train_s, 1),
                "revisions": len(report["revisions"]),
                "uploaded_mb": round(report["uploaded_bytes"] / 1e6, 1),
                "publish_verify_s": round(publish_s, 1),
                "publish_durations": report.get("durations"),
                "rerun_s": round(rerun_s, 1),
                "publish_no_verify_s": round(noverify_s, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
