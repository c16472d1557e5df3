"""Benchmark decoding every MMPreTrain zoo name with the pure decoder (target <= 20 ms for all of them).

Run: ``.venv/bin/python benchmarks/bench_decode_mmpretrain.py [--repeat 15]``

The names come from the installed wheel's metafiles (read once, not timed; equal to
``mmpretrain.list_models()``, which a test checks). The one-time vocabulary load is timed separately.
``clear_cache()`` runs before every pass, so each pass starts cold; inside a pass, backbone parts and name
tails that repeat are read once (548 names: 267 backbones, 173 tails). Reported: best and median pass.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    from hubkit.tags.mmpretrain_decoder import clear_cache, decode_mmpretrain, load
    from hubkit.tags.mmpretrain_metafile import zoo

    names = list(zoo())
    t0 = time.perf_counter()
    load()
    vocab_ms = (time.perf_counter() - t0) * 1e3
    runs, cpu = [], []
    for _ in range(args.repeat):
        clear_cache()
        t0, c0 = time.perf_counter(), time.process_time()
        for name in names:
            decode_mmpretrain(name)
        runs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(
        json.dumps(
            {
                "names": len(names),
                "vocab_load_ms": round(vocab_ms, 1),
                "best_ms": round(min(runs) * 1e3, 2),
                "median_ms": round(statistics.median(runs) * 1e3, 2),
                "cpu_best_ms": round(min(cpu) * 1e3, 2),
                "per_name_us": round(min(runs) / len(names) * 1e6, 1),
                "target_ms": 20,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
