"""MMEngine checkpoints load with weights_only=True through inert stand-ins; malicious ones are refused."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hubkit.errors import UnsafeCheckpointError
from hubkit.runs.mmengine_safe import (
    ArrayStandIn,
    HistoryBufferStandIn,
    StatisticRef,
    load_mmengine_checkpoint,
)

HistoryBuffer = pytest.importorskip("mmengine.logging.history_buffer").HistoryBuffer


def _message_hub() -> dict[str, object]:
    buf = HistoryBuffer()
    for value in (2.5, 1.5, 0.75):
        buf.update(np.float64(value))
    return {"log_scalars": {"train/loss": buf}, "runtime_info": {"epoch": 3, "eta": np.float64(0.0)}}


def _mmengine_checkpoint(path: Path, **extra: object) -> Path:
    torch.save(
        {
            "meta": {"epoch": 3, "iter": 30, "dataset_meta": {"classes": ("a", "b")}},
            "state_dict": {"w": torch.arange(4.0)},
            "message_hub": _message_hub(),
            "optimizer": {"state": {}, "param_groups": [{"lr": np.float64(0.1)}]},
            **extra,
        },
        path,
    )
    return path


def test_real_mmengine_checkpoint_loads_through_stand_ins(tmp_path: Path) -> None:
    ckpt = load_mmengine_checkpoint(_mmengine_checkpoint(tmp_path / "epoch_3.pth"))
    assert torch.equal(ckpt["state_dict"]["w"], torch.arange(4.0))
    buf = ckpt["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(buf, HistoryBufferStandIn)
    history = buf.fields["_log_history"]
    assert isinstance(history, ArrayStandIn) and history.array.tolist() == [2.5, 1.5, 0.75]
    assert buf.fields["statistics_methods"]["mean"] == StatisticRef("mean")
    assert float(ckpt["message_hub"]["runtime_info"]["eta"]) == 0.0


def test_loading_does_not_import_mmengine(tmp_path: Path) -> None:
    path = _mmengine_checkpoint(tmp_path / "epoch_3.pth")
    code = (
        "import sys; from hubkit.runs.mmengine_safe import load_mmengine_checkpoint as load; "
        f"c = load({str(path)!r}); assert c['meta']['epoch'] == 3; "
        "assert not [m for m in sys.modules if m.startswith('mmengine')], 'mmengine was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _System:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (self.cmd,))


class _Getattr:
    def __init__(self, owner: object, name: str) -> None:
        self.owner, self.name = owner, name

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (getattr, (self.owner, self.name))


def test_os_system_in_an_epoch_checkpoint_is_refused_and_not_run(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    path = _mmengine_checkpoint(tmp_path / "epoch_2.pth", hook_msgs=_System(f"touch {canary}"))
    with pytest.raises(UnsafeCheckpointError) as err:
        load_mmengine_checkpoint(path)
    assert not canary.exists()
    assert str(path) in str(err.value) and "system" in str(err.value)


@pytest.mark.parametrize(
    ("owner", "name"),
    [(HistoryBuffer, "update"), (HistoryBuffer, "__init__"), (collections.OrderedDict, "fromkeys")],
)
def test_getattr_other_than_the_statistics_is_refused(tmp_path: Path, owner: object, name: str) -> None:
    path = _mmengine_checkpoint(tmp_path / "epoch_4.pth", evil=_Getattr(owner, name))
    with pytest.raises(UnsafeCheckpointError) as err:
        load_mmengine_checkpoint(path)
    message = str(err.value)
    assert str(path) in message and "getattr" in message and repr(name) in message


def test_numpy_1_names_load(tmp_path: Path) -> None:
    # numpy < 2 writers name numpy.core.multiarray; rewrite a numpy-2 pickle's names to those of numpy 1.
    import zipfile

    src = _mmengine_checkpoint(tmp_path / "epoch_3.pth")
    dst = tmp_path / "epoch_3_np1.pth"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray" in data
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            zout.writestr(item, data)
    ckpt = load_mmengine_checkpoint(dst)
    assert ckpt["message_hub"]["log_scalars"]["train/loss"].fields["_log_history"].array.tolist() == [
        2.5,
        1.5,
        0.75,
    ]
