"""Conversion: the written files load into timm / OpenCLIP as they are, with identical outputs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import safetensors
import torch
from fixtures_runs import copy_run
from safetensors.torch import load_file

from hubkit.errors import CheckpointError
from hubkit.runs import convert_checkpoint, load_checkpoint, read_run, sha256_file
from hubkit.runs.convert import write_safetensors


def _timm_model(
    arch: str, num_classes: int, state: dict[str, torch.Tensor], **kwargs: object
) -> torch.nn.Module:
    import timm

    model = timm.create_model(arch, num_classes=num_classes, **kwargs)
    model.load_state_dict(state, strict=True)
    return model.eval()


def test_timm_ema_default_identical_logits(timm_run_dir: Path, tmp_path: Path) -> None:
    run = read_run(timm_run_dir)
    ckpt = run.checkpoints[-1]
    done = convert_checkpoint(run, ckpt, tmp_path / "out")
    assert done.weights == "ema"  # EMA run: summary.csv metrics are the EMA model's
    assert [f.path.name for f in done.files] == ["model.safetensors", "config.json"]
    for written in done.files:
        assert written.size == written.path.stat().st_size
        assert written.sha256 == sha256_file(written.path)
    assert done.source_sha256 == sha256_file(ckpt.path)
    assert done.epoch == ckpt.epoch

    source = load_checkpoint(ckpt.path)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = _timm_model("test_resnet", 10, source["state_dict_ema"])(x)
    converted = _timm_model("test_resnet", 10, load_file(done.files[0].path))(x)
    assert torch.equal(expected, converted)
    assert not torch.equal(expected, _timm_model("test_resnet", 10, source["state_dict"])(x))

    with safetensors.safe_open(done.files[0].path, "pt") as handle:
        meta = handle.metadata()
    assert meta["framework"] == "timm" and meta["weights"] == "ema" and meta["epoch"] == str(ckpt.epoch)
    assert meta["source_sha256"] == done.source_sha256 and meta["source_file"] == ckpt.path.name
    assert "optimizer" not in json.dumps(list(load_file(done.files[0].path)))


def test_timm_raw_override(timm_run_dir: Path, tmp_path: Path) -> None:
    run = read_run(timm_run_dir)
    done = convert_checkpoint(run, run.checkpoints[0], tmp_path / "raw", weights="raw")
    assert done.weights == "raw"
    source = load_checkpoint(run.checkpoints[0].path)
    written = load_file(done.files[0].path)
    assert all(torch.equal(written[k], v) for k, v in source["state_dict"].items())


def test_ema_asked_but_absent(timm_run_factory: Callable[..., Path], tmp_path: Path) -> None:
    run = read_run(timm_run_factory(ema=False, checkpoint_hist=2))
    ckpt = run.checkpoints[-1]
    assert convert_checkpoint(run, ckpt, tmp_path / "a").weights == "raw"
    with pytest.raises(CheckpointError, match="has no 'state_dict_ema'"):
        convert_checkpoint(run, ckpt, tmp_path / "b", weights="ema")


def test_timm_config_matches_timm_loaders(timm_run_dir: Path, tmp_path: Path) -> None:
    """config.json is timm's own; create_model with pretrained_cfg_overlay(file=...) loads the weights."""
    import timm

    run = read_run(timm_run_dir)
    done = convert_checkpoint(run, run.checkpoints[-1], tmp_path / "out")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["architecture"] == "test_resnet" and config["num_classes"] == 10
    assert config["label_names"] == [str(i) for i in range(10)]
    cfg = config["pretrained_cfg"]
    assert cfg["input_size"] == [3, 32, 32] and cfg["num_classes"] == 10
    t = run.eval_transform
    assert t is not None and cfg["crop_pct"] == t.crop_pct and tuple(cfg["mean"]) == t.mean
    assert "tag" not in cfg and "license" not in cfg  # they describe timm's registry weights, not these

    overlay = {**cfg, "file": str(done.files[0].path)}
    model = timm.create_model(
        config["architecture"], pretrained=True, pretrained_cfg_overlay=overlay, **config["model_args"]
    ).eval()
    source = load_checkpoint(run.checkpoints[-1].path)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model(x), _timm_model("test_resnet", 10, source["state_dict_ema"])(x))
    # and the data config timm resolves from it is the run's eval transform
    data_cfg = timm.data.resolve_data_config({}, model=model)
    assert tuple(data_cfg["input_size"]) == (3, 32, 32) and data_cfg["interpolation"] == t.interpolation


def test_timm_vit_with_model_kwargs(timm_run_factory: Callable[..., Path], tmp_path: Path) -> None:
    run = read_run(timm_run_factory(model="test_vit", epochs=2, max_per_class=8))
    done = convert_checkpoint(run, run.checkpoints[-1], tmp_path / "vit")
    config = json.loads(done.files[1].path.read_text())
    assert config["model_args"]["img_size"] == [32, 32]
    source = load_checkpoint(run.checkpoints[-1].path)
    x = torch.randn(2, 3, 32, 32)
    a = _timm_model("test_vit", 10, load_file(done.files[0].path), img_size=32)(x)
    b = _timm_model("test_vit", 10, source["state_dict_ema"], img_size=32)(x)
    assert torch.equal(a, b)


def test_shape_mismatch_with_declared_architecture(timm_run_dir: Path, tmp_path: Path) -> None:
    run_dir = copy_run(timm_run_dir, tmp_path / "run")
    args = (run_dir / "args.yaml").read_text().replace("num_classes: 10", "num_classes: 7")
    (run_dir / "args.yaml").write_text(args)
    run = read_run(run_dir)
    with pytest.raises(
        CheckpointError, match=r"does not fit architecture test_resnet: shape mismatch 2"
    ) as info:
        convert_checkpoint(run, run.checkpoints[0], tmp_path / "out")
    assert "fc.weight: (10, 96) vs (7, 96)" in str(info.value)
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_wrong_keys_and_module_prefix(timm_run_dir: Path, tmp_path: Path) -> None:
    run_dir = copy_run(timm_run_dir, tmp_path / "run")
    ckpt = load_checkpoint(run_dir / "checkpoint-0.pth.tar")
    # DistributedDataParallel-style prefixes are removed
    ckpt["state_dict_ema"] = {f"module.{k}": v.clone() for k, v in ckpt["state_dict_ema"].items()}
    torch.save(ckpt, tmp_path / "c.pth.tar")
    del ckpt
    shutil.move(tmp_path / "c.pth.tar", run_dir / "checkpoint-0.pth.tar")
    run = read_run(run_dir)
    done = convert_checkpoint(run, run.checkpoint(0), tmp_path / "ok")  # type: ignore[arg-type]
    assert not any(k.startswith("module.") for k in load_file(done.files[0].path))

    ckpt = load_checkpoint(run_dir / "checkpoint-1.pth.tar")
    state = {k: v.clone() for k, v in ckpt["state_dict_ema"].items()}
    state["head.extra"] = torch.zeros(1)
    del state["fc.bias"]
    ckpt["state_dict_ema"] = state
    torch.save(ckpt, tmp_path / "c.pth.tar")
    del ckpt
    shutil.move(tmp_path / "c.pth.tar", run_dir / "checkpoint-1.pth.tar")
    with pytest.raises(CheckpointError, match=r"missing 1 \(fc\.bias\), unexpected 1 \(head\.extra\)"):
        convert_checkpoint(run, run.checkpoint(1), tmp_path / "bad")  # type: ignore[arg-type]


def test_checkpoint_without_state_dict(timm_run_dir: Path, tmp_path: Path) -> None:
    run_dir = copy_run(timm_run_dir, tmp_path / "run")
    torch.save({"epoch": 0, "optimizer": {}}, tmp_path / "c.pth.tar")
    shutil.move(tmp_path / "c.pth.tar", run_dir / "checkpoint-0.pth.tar")
    run = read_run(run_dir)
    with pytest.raises(CheckpointError, match=r"checkpoint-0\.pth\.tar has no 'state_dict_ema'"):
        convert_checkpoint(run, run.checkpoint(0), tmp_path / "out")  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match=r"checkpoint-0\.pth\.tar has no 'state_dict'"):
        convert_checkpoint(run, run.checkpoint(0), tmp_path / "out", weights="raw")  # type: ignore[arg-type]


def test_openclip_identical_outputs(openclip_run_dir: Path, tmp_path: Path) -> None:
    import open_clip

    run = read_run(openclip_run_dir)
    ckpt = run.checkpoints[-1]
    done = convert_checkpoint(run, ckpt, tmp_path / "oc")
    assert done.weights == "raw"
    assert [f.path.name for f in done.files] == ["open_clip_model.safetensors", "open_clip_config.json"]
    config = json.loads(done.files[1].path.read_text())
    assert config["model_cfg"] == run.model_config
    assert set(config["preprocess_cfg"]) >= {"mean", "std"}

    # open_clip loads the folder as it would a downloaded Hub revision (same file names, same loader)
    loaded = open_clip.create_model(f"local-dir:{tmp_path / 'oc'}").eval()
    source = open_clip.create_model(f"local-dir:{tmp_path / 'oc'}", load_weights=False).eval()
    state = load_checkpoint(ckpt.path)["state_dict"]
    source.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
    images = torch.randn(3, 3, 32, 32)
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tmp_path / 'oc'}")
    texts = tokenizer(["a photo of the digit one", "a photo of the digit two"])
    assert torch.equal(loaded.encode_image(images), source.encode_image(images))
    assert torch.equal(loaded.encode_text(texts), source.encode_text(texts))
    assert torch.equal(loaded.logit_scale, source.logit_scale)


def test_openclip_module_prefix_and_no_ema(openclip_run_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(openclip_run_dir, run_dir, ignore=shutil.ignore_patterns("data"))
    target = run_dir / "checkpoints" / "epoch_1.pt"
    ckpt = load_checkpoint(target)
    ckpt["state_dict"] = {f"module.{k}": v.clone() for k, v in ckpt["state_dict"].items()}  # as after DDP
    torch.save(ckpt, tmp_path / "e.pt")
    del ckpt
    shutil.move(tmp_path / "e.pt", target)
    run = read_run(run_dir)
    done = convert_checkpoint(run, run.checkpoint(1), tmp_path / "out")  # type: ignore[arg-type]
    assert not any(k.startswith("module.") for k in load_file(done.files[0].path))
    with pytest.raises(CheckpointError, match="keeps no EMA"):
        convert_checkpoint(run, run.checkpoint(1), tmp_path / "out2", weights="ema")  # type: ignore[arg-type]


def test_write_safetensors_round_trip(tmp_path: Path) -> None:
    shared = torch.arange(6, dtype=torch.float32)
    tensors = {
        "a.f32": torch.randn(3, 4),
        "b.bf16": torch.randn(5).to(torch.bfloat16),
        "c.i64": torch.arange(7),
        "d.bool": torch.tensor([True, False, True]),
        "e.scalar": torch.tensor(3.5),
        "f.empty": torch.zeros(0, 3),
        "g.f16": torch.randn(2, 2).half(),
        "h.view": shared[2:5],
    }
    size, digest = write_safetensors(tmp_path / "x.safetensors", tensors, {"format": "pt", "k": "v"})
    assert size == (tmp_path / "x.safetensors").stat().st_size
    assert digest == sha256_file(tmp_path / "x.safetensors")
    back = load_file(tmp_path / "x.safetensors")
    assert set(back) == set(tensors)
    for name, tensor in tensors.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor)
    with safetensors.safe_open(tmp_path / "x.safetensors", "pt") as handle:
        assert handle.metadata() == {"format": "pt", "k": "v"}


def test_shared_tensors_are_written_separately(timm_run_dir: Path, tmp_path: Path) -> None:
    """Tied weights (two keys, one storage) are stored as two tensors, so strict loading still works."""
    from hubkit.runs.convert import _unshare

    base = torch.randn(4, 4)
    state = _unshare({"a": base, "b": base, "c": torch.ones(2)})
    assert state["a"].untyped_storage().data_ptr() != state["b"].untyped_storage().data_ptr()
    assert torch.equal(state["a"], state["b"])


def test_openclip_config_mismatch_writes_nothing(openclip_run_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(openclip_run_dir, run_dir, ignore=shutil.ignore_patterns("data"))
    config = json.loads((run_dir / "digits-tiny-vit.json").read_text())
    config["embed_dim"] = 16
    (run_dir / "digits-tiny-vit.json").write_text(json.dumps(config))
    run = read_run(run_dir)
    with pytest.raises(CheckpointError, match="does not fit architecture digits-tiny-vit: shape mismatch"):
        convert_checkpoint(run, run.checkpoints[0], tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_architecture_built_once_per_run(timm_run_dir: Path, tmp_path: Path) -> None:
    from hubkit.runs import convert as convert_module

    run = read_run(timm_run_dir)
    convert_module._ARCH_MEMO.clear()
    first = convert_checkpoint(run, run.checkpoints[0], tmp_path / "a")
    assert len(convert_module._ARCH_MEMO) == 1
    second = convert_checkpoint(run, run.checkpoints[-1], tmp_path / "b")
    assert len(convert_module._ARCH_MEMO) == 1  # the second conversion reused the meta model's facts
    assert (tmp_path / "a" / "config.json").read_bytes() == (tmp_path / "b" / "config.json").read_bytes()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["config.json", "model.safetensors"]
    assert first.files[1].sha256 == second.files[1].sha256
