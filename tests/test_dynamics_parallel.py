"""Half of a whole analysis in a forked worker process (hubkit.dynamics.parallel).

The checks fork, so they run in a fresh interpreter started for this module (a pytest process may run
other threads by then, and the analysis forks only where none is alive); each test asserts its check's
outcome there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hubkit import frameworks
from hubkit.dynamics import Grouping, LayerGroup
from hubkit.dynamics import measure as measuring
from hubkit.dynamics.parallel import ForkedShare, can_fork
from hubkit.dynamics.weights import CheckpointWeights, SafetensorsWeights
from hubkit.errors import CheckpointError
from hubkit.runs.safeload import load_checkpoint

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the analysis forks on Linux only"
)


def check_the_worker_swaps_bytes_then_sends_its_arrays_back_as_they_were(tmp_path: Path) -> None:
    arrays = [np.arange(6.0).reshape(2, 3), np.array([[1, -2]], dtype=np.int64)]

    def work(theirs: bytes) -> list[np.ndarray]:
        return [*arrays, np.frombuffer(theirs, dtype=np.uint8).copy()]

    share = ForkedShare(lambda: b"from the worker", work)
    assert share.swap(b"\x01\x02") == b"from the worker"
    got = share.result()
    assert [a.dtype for a in got] == [np.float64, np.int64, np.uint8]
    assert all(np.array_equal(a, b) for a, b in zip(got, [*arrays, np.array([1, 2])], strict=True))
    share.cancel()  # after the answer: closes what is left, kills nothing


def _fails(message: str) -> Callable[[], bytes]:
    def prepare() -> bytes:
        raise CheckpointError(message, hint="Re-save the checkpoint.")

    return prepare


def check_a_failing_worker_is_a_checkpoint_error_with_its_message_and_hint(tmp_path: Path) -> None:
    share = ForkedShare(_fails("c3.pt ended early (truncated while it was read?)"), lambda _: [])
    with pytest.raises(CheckpointError, match=r"c3\.pt ended early") as caught:
        share.swap(b"")
    assert caught.value.hint == "Re-save the checkpoint."
    share.cancel()


def check_a_worker_that_dies_without_answering_is_an_error_not_a_hang(tmp_path: Path) -> None:
    def work(_: bytes) -> list[np.ndarray]:
        os._exit(3)

    share = ForkedShare(lambda: b"", work)
    share.swap(b"")
    with pytest.raises(CheckpointError, match=r"without an answer \(exit status 3\)"):
        share.result()
    share.cancel()


def check_cancel_stops_a_running_worker(tmp_path: Path) -> None:
    def prepare() -> bytes:
        time.sleep(60)
        return b""

    share = ForkedShare(prepare, lambda _: [])
    pid = share._pid
    start = time.monotonic()
    share.cancel()
    assert time.monotonic() - start < 10
    assert pid is not None
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)


def _checkpoints(tmp_path: Path, loaded: list[str] | None = None) -> list[CheckpointWeights]:
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(3 * measuring.CHUNK + 5, generator=gen)
    v = torch.randn(700, generator=gen)
    h = torch.randn(50, generator=gen).half()
    paths = []
    for i in range(4):
        state = {"a.w": w + 0.01 * i * torch.randn(w.shape, generator=gen), "a.v": v, "b.h": h * (1 + i % 2)}
        state["b.n"] = torch.tensor(i)
        path = tmp_path / f"c{i}.pt"
        torch.save({"epoch": i, "state_dict": state}, path)
        paths.append(path)

    def load(path: Path) -> dict[str, Any]:
        if loaded is not None:
            loaded.append(path.name)
        return load_checkpoint(path)

    return [CheckpointWeights(p, "raw", frameworks.get("timm"), load=load) for p in paths]


GROUPING = Grouping("t", (LayerGroup("a", ("a.w", "a.v")), LayerGroup("b", ("b.h",), ("b.n",))))


def check_a_forked_share_measures_exactly_what_a_thread_or_one_worker_does(tmp_path: Path) -> None:
    forks: list[ForkedShare] = []

    class Recorded(ForkedShare):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            forks.append(self)

    assert can_fork()  # this fresh process runs no other thread
    measuring.ForkedShare = Recorded  # type: ignore[misc,assignment]
    measuring.os.cpu_count = lambda: 2
    results = {}
    for mode, may_fork, workers in (("fork", True, 2), ("thread", False, 2), ("one", True, 1)):
        measuring._FORK, measuring._WORKERS = may_fork, workers
        loaded: list[str] = []
        results[mode] = measuring.measure(_checkpoints(tmp_path, loaded), GROUPING)
        if mode == "fork":  # this process loaded the final checkpoint and its half; the worker the rest
            assert sorted(loaded) == ["c0.pt", "c1.pt", "c3.pt"]
        else:
            assert sorted(loaded) == ["c0.pt", "c1.pt", "c2.pt", "c3.pt"]
    assert len(forks) == 1  # only the forked mode forked
    forked, thread, one = results["fork"], results["thread"], results["one"]
    assert forked.series == thread.series  # the same shares, the same sums: bit for bit
    for got, want in zip(forked.series, one.series, strict=True):  # one worker adds in another order
        for a, b in zip(got, want, strict=True):
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                assert [s.unchanged_tensors for s in a.steps] == [s.unchanged_tensors for s in b.steps]
                for x, y in zip(a.steps, b.steps, strict=True):
                    assert x.norm == pytest.approx(y.norm, rel=1e-12)
                    assert (x.rel_change_prev or 0) == pytest.approx(y.rel_change_prev or 0, rel=1e-12)
    b = forked.series[1][0]
    assert b is not None and [s.unchanged_tensors for s in b.steps[1:]] == [0.0, 0.0, 0.0]
    a = forked.series[0][0]
    assert a is not None and [s.unchanged_tensors for s in a.steps[1:]] == [0.5, 0.5, 0.5]  # a.v frozen


def check_published_revisions_are_measured_in_halves_too(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    sources = _checkpoints(tmp_path)
    for n, source in enumerate(sources):
        state = {k: source.tensor(k).clone() for k in source.metadata()}
        save_file(state, tmp_path / f"r{n}.safetensors")
    assert can_fork()
    measuring.os.cpu_count = lambda: 2
    forks: list[object] = []
    fork = measuring.ForkedShare

    def counted(*args: Any) -> ForkedShare:
        forks.append(args)
        return fork(*args)

    measuring.ForkedShare = counted  # type: ignore[assignment,misc]
    measured = {}
    for may_fork in (True, False):
        measuring._FORK, measuring._WORKERS = may_fork, 2
        revisions = [SafetensorsWeights(tmp_path / f"r{n}.safetensors") for n in range(len(sources))]
        measured[may_fork] = measuring.measure(revisions, GROUPING)
    assert len(forks) == 1 and measured[True].series == measured[False].series
    assert measured[True].bytes_read == measured[False].bytes_read > 0


def check_no_process_to_be_had_means_a_thread_and_no_leak(tmp_path: Path) -> None:
    def refuse() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    fork, open_fds = os.fork, len(os.listdir("/proc/self/fd"))
    os.fork = refuse
    try:
        try:
            ForkedShare(lambda: b"", lambda _: [])
            raise AssertionError("fork refused, yet a worker")
        except OSError:
            pass
        assert len(os.listdir("/proc/self/fd")) == open_fds  # the pipes were closed
        measuring.os.cpu_count = lambda: 2
        measuring._FORK, measuring._WORKERS = True, 2
        by_thread = measuring.measure(_checkpoints(tmp_path), GROUPING)
    finally:
        os.fork = fork
    measuring._FORK = False  # what the threads measure, asked for directly
    assert by_thread.series == measuring.measure(_checkpoints(tmp_path), GROUPING).series


CHECKS = [name for name in dir() if name.startswith("check_")]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every check's outcome ("ok" or its traceback), from one fresh interpreter."""
    tmp = tmp_path_factory.mktemp("forks")
    done = subprocess.run(
        [sys.executable, __file__, str(tmp)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("check", CHECKS)
def test_in_a_fresh_process(check: str, outcomes: dict[str, str]) -> None:
    assert outcomes[check] == "ok", outcomes[check]


if __name__ == "__main__":  # the fresh interpreter: run every check, say how each went
    results: dict[str, str] = {}
    for name in CHECKS:
        folder = Path(sys.argv[1]) / name
        folder.mkdir()
        try:
            globals()[name](folder)
            results[name] = "ok"
        except Exception:
            results[name] = traceback.format_exc()
    print(json.dumps(results))
