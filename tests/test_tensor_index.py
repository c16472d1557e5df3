"""hubkit.runs.tensor_index: where a checkpoint's tensors lie, from its pickle alone, never running it."""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hubkit import frameworks
from hubkit.dynamics.weights import CheckpointWeights
from hubkit.errors import CheckpointError, UnsafeCheckpointError
from hubkit.runs.safeload import load_checkpoint
from hubkit.runs.tensor_index import STORAGE_DTYPES, index_checkpoint


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(8, 4))


def _saver_checkpoint(path: Path) -> dict[str, Any]:
    """What timm's CheckpointSaver writes: raw and EMA state dicts (OrderedDicts with ``_metadata``), the
    optimizer's state, the arg namespace and a numpy metric."""
    model, ema = _model(), _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    optimizer.step()
    checkpoint = {
        "epoch": 3,
        "arch": "tiny",
        "state_dict": model.state_dict(),
        "state_dict_ema": ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "args": argparse.Namespace(lr=0.1, output=Path("/tmp/out")),
        "metric": np.float64(0.5),
    }
    torch.save(checkpoint, path)
    return checkpoint


def _loaded_layout(path: Path, weights: str) -> dict[str, Any]:
    return CheckpointWeights(path, weights, frameworks.get("timm"), load=load_checkpoint).layout()


@pytest.mark.parametrize("weights", ["raw", "ema"])
def test_the_index_finds_what_the_safe_load_finds_and_reads_the_same_bits(
    tmp_path: Path, weights: str
) -> None:
    checkpoint = _saver_checkpoint(tmp_path / "c.pth.tar")
    state = checkpoint["state_dict_ema" if weights == "ema" else "state_dict"]
    source = CheckpointWeights(tmp_path / "c.pth.tar", weights, frameworks.get("timm"))
    assert source.layout() == _loaded_layout(tmp_path / "c.pth.tar", weights)
    assert source._state is None and source._pages is None  # nothing was loaded or mapped
    assert {k: v for k, v in source.metadata().items()} == {
        k: (tuple(v.shape), v.dtype) for k, v in state.items()
    }
    for key, value in state.items():
        assert torch.equal(source.tensor(key), value), key
    assert source._state is None  # every tensor came from its offset in the file


def test_views_of_one_storage_parameters_and_every_dtype(tmp_path: Path) -> None:
    big = torch.randn(100)
    state: dict[str, torch.Tensor] = {
        "a": big[10:20],
        "b": big[50:].view(5, 10),
        "p": torch.nn.Parameter(torch.randn(3, 3)),
        "t": torch.randn(4, 6).t(),  # not contiguous: no offset, loaded when read
    }
    for dtype in (
        torch.float16,
        torch.bfloat16,
        torch.float64,
        torch.int64,
        torch.int32,
        torch.uint8,
        torch.bool,
    ):
        state[str(dtype)] = (torch.randn(7) * 10).to(dtype)
    torch.save({"epoch": 0, "state_dict": state}, tmp_path / "c.pt")
    index = index_checkpoint(tmp_path / "c.pt")
    assert index is not None
    metas = index.tree["state_dict"]
    assert all(t.device.type == "meta" for t in metas.values())
    offsets = dict(zip(metas, index.file_offsets(metas.values()), strict=True))
    assert offsets["t"] is None and offsets["b"] - offsets["a"] == (50 - 10) * 4  # one storage, two views
    source = CheckpointWeights(tmp_path / "c.pt", "raw", frameworks.get("timm"))
    assert source.layout() == _loaded_layout(tmp_path / "c.pt", "raw")
    for key, value in state.items():
        assert torch.equal(source.tensor(key), value.detach()), key


def test_storage_names_are_torchs_own() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "TypedStorage is deprecated": only its dtype is read
        for name, dtype in STORAGE_DTYPES.items():
            assert getattr(torch, name).dtype == getattr(torch, dtype), name


class _Payload:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {os.environ['HUBKIT_TEST_MARKER']}",))


def test_a_pickle_naming_anything_else_is_never_run_and_goes_to_the_safe_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran"
    monkeypatch.setenv("HUBKIT_TEST_MARKER", str(marker))
    torch.save({"epoch": 0, "state_dict": {"w": torch.ones(3)}, "x": _Payload()}, tmp_path / "evil.pt")
    assert index_checkpoint(tmp_path / "evil.pt") is None
    source = CheckpointWeights(tmp_path / "evil.pt", "raw", frameworks.get("timm"))
    with pytest.raises(UnsafeCheckpointError, match="system"):
        source.metadata()
    assert not marker.exists()


def _rewrite(src: Path, dst: Path, change: Any) -> None:
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as new:
        for info in old.infolist():
            data, compress = change(info.filename, old.read(info))
            new.writestr(info, data, compress_type=compress)


def test_a_record_of_the_wrong_size_or_compressed_is_left_to_the_safe_loader(tmp_path: Path) -> None:
    torch.save({"epoch": 0, "state_dict": {"w": torch.randn(64)}}, tmp_path / "c.pt")
    _rewrite(tmp_path / "c.pt", tmp_path / "short.pt", lambda n, d: (d[:-4] if "/data/" in n else d, 0))
    _rewrite(tmp_path / "c.pt", tmp_path / "zipped.pt", lambda n, d: (d, 8 if "/data/" in n else 0))
    assert index_checkpoint(tmp_path / "short.pt") is None
    assert index_checkpoint(tmp_path / "zipped.pt") is None
    source = CheckpointWeights(tmp_path / "zipped.pt", "raw", frameworks.get("timm"))
    with contextlib.suppress(CheckpointError):  # whatever torch makes of it, the safe loader decides
        source.metadata()
    assert source._state is not None or source._layout is None  # the safe loader's way, not the index's


def test_legacy_and_truncated_files_are_not_indexed(tmp_path: Path) -> None:
    state = {"w": torch.randn(256)}
    torch.save({"state_dict": state}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    torch.save({"state_dict": state}, tmp_path / "cut.pt")
    os.truncate(tmp_path / "cut.pt", (tmp_path / "cut.pt").stat().st_size // 2)
    assert index_checkpoint(tmp_path / "old.pt") is None
    assert index_checkpoint(tmp_path / "cut.pt") is None
    assert index_checkpoint(tmp_path / "missing.pt") is None


def test_an_mmengine_checkpoint_is_indexed_through_the_frameworks_stand_ins(tmp_path: Path) -> None:
    history_buffer = pytest.importorskip("mmengine.logging.history_buffer").HistoryBuffer
    buffer = history_buffer()
    for value in (2.5, 1.5):
        buffer.update(np.float64(value))
    state = {"backbone.w": torch.randn(6, 5), "head.fc.bias": torch.randn(5)}
    checkpoint = {
        "meta": {"epoch": 2, "dataset_meta": {"classes": ("a", "b")}},
        "state_dict": state,
        "message_hub": {"log_scalars": {"train/loss": buffer}, "runtime_info": {"eta": np.float64(0.0)}},
        "optimizer": {"state": {}, "param_groups": [{"lr": np.float64(0.1)}]},
    }
    torch.save(checkpoint, tmp_path / "epoch_2.pth")
    assert index_checkpoint(tmp_path / "epoch_2.pth") is not None
    framework = frameworks.get("mmpretrain")
    source = CheckpointWeights(tmp_path / "epoch_2.pth", "raw", framework)
    loaded = CheckpointWeights(tmp_path / "epoch_2.pth", "raw", framework, load=load_checkpoint)
    assert source.layout() == loaded.layout() and source._state is None
    for key, value in state.items():
        assert torch.equal(source.tensor(key), value)


class _Storage:
    """A storage the test pickler describes with a persistent id of its choosing."""

    def __init__(self, pid: tuple[object, ...]) -> None:
        self.pid = pid


class _Tensor:
    def __init__(self, storage: _Storage, size: tuple[int, ...]) -> None:
        self.storage, self.size = storage, size

    def __reduce__(self) -> tuple[Any, ...]:
        stride = (1,) * len(self.size)
        return (
            torch._utils._rebuild_tensor_v2,
            (self.storage, 0, self.size, stride, False, collections.OrderedDict()),
        )


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> object:
        return obj.pid if isinstance(obj, _Storage) else None


def _handmade(path: Path, state: dict[str, _Tensor], record: bytes) -> None:
    """A torch-style zip checkpoint whose pickle says what the test wants about its one record."""
    data = io.BytesIO()
    _Pickler(data, protocol=2).dump({"state_dict": state})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data.getvalue())
        archive.writestr("archive/byteorder", b"little")
        archive.writestr("archive/data/0", record)


def test_one_record_named_as_two_storages_is_checked_for_each(tmp_path: Path) -> None:
    record = torch.arange(4, dtype=torch.float32).numpy().tobytes()  # 16 bytes
    as_float = _Storage(("storage", torch.FloatStorage, "0", "cpu", 4))
    as_long = _Storage(("storage", torch.LongStorage, "0", "cpu", 4))  # would need 32 bytes
    _handmade(tmp_path / "fine.pt", {"a": _Tensor(as_float, (4,))}, record)
    _handmade(tmp_path / "lying.pt", {"a": _Tensor(as_float, (4,)), "b": _Tensor(as_long, (4,))}, record)
    fine = index_checkpoint(tmp_path / "fine.pt")
    assert fine is not None and fine.file_offsets(fine.tree["state_dict"].values())[0] is not None
    assert index_checkpoint(tmp_path / "lying.pt") is None  # never a read past the record
