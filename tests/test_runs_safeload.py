"""Safe checkpoint loading: malicious pickles are refused without running, damaged files named clearly."""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hubkit.errors import CheckpointError, UnsafeCheckpointError
from hubkit.runs import convert_checkpoint, load_checkpoint, read_run, sha256_file
from hubkit.runs.safeload import load_checkpoint_with_sha256


class SystemCall:
    """Pickles to ``os.system(cmd)``: what a booby-trapped checkpoint looks like."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (self.cmd,))


class Touch:
    """Pickles to ``pathlib.Path(path).touch()`` through ``getattr``-free reduce: Path.touch(path)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def _evil_checkpoint(path: Path, payload: object) -> Path:
    torch.save({"epoch": 0, "state_dict": {"w": torch.ones(2)}, "extra": payload}, path)
    return path


def test_os_system_payload_is_refused_and_not_run(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    ckpt = _evil_checkpoint(tmp_path / "evil.pth.tar", SystemCall(f"touch {canary}"))
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(ckpt)
    assert not canary.exists()
    message = str(info.value)
    assert str(ckpt) in message
    assert "posix.system" in message or "nt.system" in message


def test_path_touch_payload_is_refused_and_not_run(tmp_path: Path) -> None:
    canary = tmp_path / "canary2"
    ckpt = _evil_checkpoint(tmp_path / "evil.pt", Touch(canary))
    with pytest.raises(UnsafeCheckpointError, match=r"pathlib\.(Path\.touch|_local\.Path\.touch|Path)"):
        load_checkpoint(ckpt)
    assert not canary.exists()


def test_allowlisted_types_load(tmp_path: Path) -> None:
    ckpt = tmp_path / "ok.pth.tar"
    torch.save(
        {
            "epoch": 3,
            "args": argparse.Namespace(model="resnet50", lr=0.1, betas=(0.9, 0.999)),
            "metric": np.float64(81.5),
            "count": np.int64(7),
            "dtype": np.dtype("float32"),
            "where": pathlib.PurePosixPath("/data/val"),
            "state_dict": {"w": torch.zeros(3)},
        },
        ckpt,
    )
    loaded, digest = load_checkpoint_with_sha256(ckpt)
    assert loaded["args"].model == "resnet50"
    assert float(loaded["metric"]) == 81.5
    assert digest == sha256_file(ckpt)


def test_truncated_checkpoint(tmp_path: Path) -> None:
    good = tmp_path / "good.pth.tar"
    torch.save({"epoch": 0, "state_dict": {"w": torch.randn(1000)}}, good)
    cut = tmp_path / "cut.pth.tar"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth\.tar is truncated or corrupt"):
        load_checkpoint(cut)


def test_garbage_empty_and_missing_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match=r"junk\.pth\.tar is not a torch checkpoint"):
        load_checkpoint(junk)
    empty = tmp_path / "empty.pth.tar"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pth\.tar is empty"):
        load_checkpoint(empty)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pth.tar")


def test_not_a_dict(tmp_path: Path) -> None:
    ckpt = tmp_path / "tensor.pt"
    torch.save(torch.ones(2), ckpt)
    with pytest.raises(CheckpointError, match="holds a Tensor, not a checkpoint dict"):
        load_checkpoint(ckpt)


def test_bad_checkpoint_in_a_run_leaves_the_others_usable(timm_run_dir: Path, tmp_path: Path) -> None:
    """A booby-trapped checkpoint-1 is refused; checkpoint-0 of the same run still converts."""
    run_dir = tmp_path / "run"
    shutil.copytree(timm_run_dir, run_dir, ignore=shutil.ignore_patterns("data"))
    canary = tmp_path / "canary3"
    good = load_checkpoint(run_dir / "checkpoint-1.pth.tar")
    good["payload"] = SystemCall(f"touch {canary}")
    # the loaded tensors are memory-mapped from checkpoint-1: write elsewhere, then replace it
    torch.save(good, tmp_path / "evil.pth.tar")
    del good
    os.replace(tmp_path / "evil.pth.tar", run_dir / "checkpoint-1.pth.tar")
    run = read_run(run_dir)
    with pytest.raises(UnsafeCheckpointError, match=r"checkpoint-1\.pth\.tar"):
        convert_checkpoint(run, run.checkpoint(1), tmp_path / "out1")  # type: ignore[arg-type]
    assert not canary.exists()
    assert not (tmp_path / "out1" / "model.safetensors").exists()
    done = convert_checkpoint(run, run.checkpoint(0), tmp_path / "out0")  # type: ignore[arg-type]
    assert done.epoch == 0 and (tmp_path / "out0" / "model.safetensors").is_file()


def test_hash_ahead_then_load(tmp_path: Path) -> None:
    from hubkit.runs.safeload import hash_checkpoint

    path = tmp_path / "c.pth.tar"
    torch.save({"epoch": 3, "state_dict": {"w": torch.ones(4)}}, path)
    known = hash_checkpoint(path)
    assert known.sha256 == sha256_file(path) and known.size == path.stat().st_size
    ckpt, sha = load_checkpoint_with_sha256(path, known=known)
    assert sha == known.sha256 and ckpt["epoch"] == 3
    # Rewritten after it was hashed: the old hash must not be used for the new bytes.
    torch.save({"epoch": 4, "state_dict": {"w": torch.zeros(4)}}, path)
    os.utime(path, ns=(known.mtime_ns + 10**9, known.mtime_ns + 10**9))
    with pytest.raises(CheckpointError, match="changed while it was being read"):
        load_checkpoint_with_sha256(path, known=known)
    with pytest.raises(CheckpointError, match="does not exist"):
        hash_checkpoint(tmp_path / "missing.pth.tar")


def test_loads_from_several_threads_keep_the_allowlist(tmp_path: Path) -> None:
    # torch's safe_globals is one process-wide list: a thread leaving it must not refuse another's load.
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "c.pth.tar"
    state = {f"w{i}": torch.zeros(2) for i in range(200)}
    torch.save({"epoch": 1, "args": argparse.Namespace(model="m"), "state_dict": state}, path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        loaded = list(pool.map(lambda _: load_checkpoint(path)["args"].model, range(40)))
    assert loaded == ["m"] * 40


def test_preloaded_checkpoint_converts_without_a_second_unpickling(
    timm_run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubkit.runs import safeload
    from hubkit.runs.safeload import hash_checkpoint, preload

    run = read_run(timm_run_dir)
    info = run.checkpoints[-1]
    cold = convert_checkpoint(run, info, tmp_path / "cold")
    loaded = preload(info.path)
    calls: list[Path] = []
    real = safeload._safe_load
    monkeypatch.setattr(safeload, "_safe_load", lambda file: calls.append(file) or real(file))
    warm = convert_checkpoint(
        run, info, tmp_path / "warm", source_hash=hash_checkpoint(info.path), preloaded=loaded
    )
    assert calls == []  # publishing's preflight loaded it: conversion used that
    assert [(f.path.name, f.sha256) for f in warm.files] == [(f.path.name, f.sha256) for f in cold.files]
    # a preload of another file is ignored (that file is loaded as usual)
    other = run.checkpoints[0]
    convert_checkpoint(run, other, tmp_path / "other", preloaded=loaded)
    assert calls == [other.path]


def test_preloads_load_each_file_once_for_its_two_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a publish's preflight and its dynamics analysis ask for the same checkpoints from two threads
    from concurrent.futures import ThreadPoolExecutor

    from hubkit.runs import safeload

    paths = []
    for epoch in range(3):
        paths.append(tmp_path / f"c{epoch}.pth.tar")
        torch.save({"epoch": epoch, "state_dict": {"w": torch.full((4,), float(epoch))}}, paths[-1])
    calls: list[Path] = []
    real = safeload._safe_load

    def counted(file: Path) -> dict[str, object]:
        calls.append(file)
        return real(file)

    monkeypatch.setattr(safeload, "_safe_load", counted)
    preloads = safeload.Preloads()
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(preloads.get, [p for p in paths for _ in range(4)]))
    assert sorted(calls) == paths  # one load per file
    assert [g.checkpoint["epoch"] for g in got] == [e for e in range(3) for _ in range(4)]
    assert preloads.checkpoint(paths[1]) is got[4].checkpoint  # taken by its last user: forgotten
    assert preloads.take(paths[1]) is not got[4] and calls.count(paths[1]) == 2
    preloads.close()  # nothing is kept from then on (the memory maps go with their users)
    assert preloads.take(paths[0]) is not got[0]
    preloads.get(paths[2])
    assert len(calls) == 6 and preloads.take(paths[2]) is not got[8] and len(calls) == 7


def test_preloaded_checkpoint_rewritten_before_hashing_is_refused(tmp_path: Path) -> None:
    from hubkit.runs.safeload import hash_checkpoint, preload

    path = tmp_path / "c.pth.tar"
    torch.save({"epoch": 3, "state_dict": {"w": torch.ones(4)}}, path)
    loaded = preload(path)
    assert loaded.checkpoint["epoch"] == 3
    # Rewritten after it was loaded, then hashed: the hash is of the new bytes, the dict of the old.
    torch.save({"epoch": 4, "state_dict": {"w": torch.zeros(4)}}, tmp_path / "new.pth.tar")
    os.replace(tmp_path / "new.pth.tar", path)
    os.utime(path, ns=(loaded.mtime_ns + 10**9, loaded.mtime_ns + 10**9))
    with pytest.raises(CheckpointError, match="changed while it was being read"):
        load_checkpoint_with_sha256(path, known=hash_checkpoint(path), preloaded=loaded)
    with pytest.raises(CheckpointError, match="does not exist"):
        preload(tmp_path / "missing.pth.tar")


def test_checkpoint_rewritten_while_preloading_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubkit.runs import safeload

    path = tmp_path / "c.pth.tar"
    torch.save({"epoch": 3, "state_dict": {"w": torch.ones(4)}}, path)
    real = safeload._safe_load

    def load_while_training_writes(file: Path) -> dict[str, object]:
        loaded = real(file)
        stat = file.stat()
        os.utime(file, ns=(stat.st_mtime_ns + 10**9, stat.st_mtime_ns + 10**9))  # the trainer saved again
        return loaded

    monkeypatch.setattr(safeload, "_safe_load", load_while_training_writes)
    with pytest.raises(CheckpointError, match="changed while it was being read"):
        safeload.preload(path)
