"""Training dynamics on small in-memory and meta-device models: measures, groups, lock plans, jumps, output.

The real runs (timm fine-tunes with a frozen trunk, OpenCLIP locks) are in ``test_dynamics_runs.py``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from hubkit import frameworks
from hubkit.dynamics import CheckpointRef, Grouping, LayerGroup, build_report
from hubkit.dynamics.check import flag_jumps
from hubkit.dynamics.groups import groups_by_module
from hubkit.dynamics.measure import CHUNK, Measured, measure
from hubkit.dynamics.model import KindSeries, Step
from hubkit.dynamics.weights import CheckpointWeights, MemoryWeights, SafetensorsWeights
from hubkit.errors import CheckpointError
from hubkit.runs.model import Hyperparams
from hubkit.runs.safeload import load_checkpoint

TINY_VISION: dict[str, object] = {
    "image_size": 16,
    "layers": 3,
    "width": 32,
    "head_width": 16,
    "patch_size": 8,
}
TINY_TEXT: dict[str, object] = {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 2}


def _meta_clip(**vision: object) -> torch.nn.Module:
    from open_clip.model import CLIP

    with torch.device("meta"):
        return CLIP(embed_dim=16, vision_cfg={**TINY_VISION, **vision}, text_cfg=TINY_TEXT)


def _sources(states: list[dict[str, torch.Tensor]]) -> list[MemoryWeights]:
    return [MemoryWeights(s, name=f"c{i}") for i, s in enumerate(states)]


GROUPING = Grouping("test", (LayerGroup("a", ("a.w",), ("a.n",)), LayerGroup("b", ("b.w", "b.v"))))


def _states() -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(300, 7, generator=gen)
    n = torch.tensor(5)
    b0 = torch.randn(CHUNK + 11, generator=gen, dtype=torch.float64).float()  # spans two chunks
    v = torch.randn(3, generator=gen).half()
    b1 = b0 + 0.01 * torch.randn(b0.shape, generator=gen)
    b2 = b1 + 0.001 * torch.randn(b0.shape, generator=gen)
    return [
        {"a.w": a, "a.n": n, "b.w": b0, "b.v": v},
        {"a.w": a.clone(), "a.n": n + 1, "b.w": b1, "b.v": v.clone()},
        {"a.w": a.clone(), "a.n": n + 2, "b.w": b2, "b.v": v * 2},
    ]


def _norm(tensors: list[torch.Tensor]) -> float:
    return float(torch.linalg.norm(torch.cat([t.double().reshape(-1) for t in tensors])))


def test_measures_match_float64_reference() -> None:
    states = _states()
    measured = measure(_sources(states), GROUPING)
    series = measured.series[1][0]
    assert series is not None and series.tensors == 2
    keys = ["b.w", "b.v"]
    for i, step in enumerate(series.steps):
        cur = [states[i][k] for k in keys]
        first, final = [states[0][k] for k in keys], [states[-1][k] for k in keys]
        diff = lambda x, y: [a.double() - b.double() for a, b in zip(x, y, strict=True)]  # noqa: E731
        if i:
            prev = [states[i - 1][k] for k in keys]
            assert step.rel_change_prev == pytest.approx(_norm(diff(cur, prev)) / _norm(prev), rel=1e-9)
        assert (step.rel_change_first or 0.0) == pytest.approx(
            _norm(diff(cur, first)) / _norm(first), rel=1e-9
        )
        assert step.dist_final == pytest.approx(_norm(diff(cur, final)), rel=1e-9, abs=1e-12)
        flat = torch.cat([t.double().reshape(-1) for t in cur])
        ref = torch.cat([t.double().reshape(-1) for t in final])
        assert step.cos_final == pytest.approx(float(flat @ ref / (flat.norm() * ref.norm())), rel=1e-9)
        assert step.norm == pytest.approx(_norm(cur), rel=1e-9)
    assert measured.bytes_read == 3 * sum(t.numel() * t.element_size() for t in states[0].values())


def _walk(count: int) -> list[dict[str, torch.Tensor]]:
    """``count`` checkpoints: a.w frozen for the first three, the others moving a little each time."""
    gen = torch.Generator().manual_seed(1)
    states = [_states()[0]]
    for i in range(1, count):
        later = {}
        for key, value in states[-1].items():
            if not value.is_floating_point():
                later[key] = value + 1
            elif key == "a.w" and i < 3:
                later[key] = value.clone()
            else:
                step = 0.01 * torch.randn(value.shape, generator=gen)
                later[key] = (value.double() + step).to(value.dtype)
        states.append(later)
    return states


def test_windows_and_streamed_pairs_give_the_measures_of_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from hubkit.dynamics import measure as measuring

    states = _walk(7)
    whole = measure(_sources(states), GROUPING)
    told: dict[int, Measured] = {}
    streamed = measure(_sources(states), GROUPING, on_checkpoint=lambda i, pair: told.__setitem__(i, pair))
    monkeypatch.setattr(measuring, "WINDOW", 2)  # four windows, each reading its neighbours again
    windowed = measure(_sources(states), GROUPING)
    assert sorted(told) == list(range(1, 7))
    assert whole.bytes_read < streamed.bytes_read < windowed.bytes_read  # one pass reads each byte once
    for g, keys in ((0, ["a.w"]), (1, ["b.w", "b.v"])):
        series = whole.series[g][0]
        assert series is not None
        for i, step in enumerate(series.steps):
            cur, final = [states[i][k] for k in keys], [states[-1][k] for k in keys]
            flat = torch.cat([t.double().reshape(-1) for t in cur])
            ref = torch.cat([t.double().reshape(-1) for t in final])
            assert step.cos_final == pytest.approx(float(flat @ ref / (flat.norm() * ref.norm())), rel=1e-12)
            for other in (streamed, windowed):
                theirs = other.series[g][0]
                assert theirs is not None
                mine = theirs.steps[i]
                for name in ("rel_change_prev", "rel_change_first", "dist_final", "cos_final", "norm"):
                    value = getattr(step, name)
                    expected = value if value is None else pytest.approx(value, rel=1e-12, abs=1e-15)
                    assert getattr(mine, name) == expected, (name, i)
                assert mine.unchanged_tensors == step.unchanged_tensors
            if i:  # the pair told for checkpoint i: measures of i − 1 and i alone
                pair = told[i].series[g][0]
                prev = torch.cat([states[i - 1][k].double().reshape(-1) for k in keys])
                assert pair is not None and pair.steps[1].rel_change_prev == step.rel_change_prev
                assert pair.steps[1].unchanged_tensors == step.unchanged_tensors
                assert pair.steps[0].dist_final == pytest.approx(float((flat - prev).norm()), rel=1e-12)
    a = whole.series[0][0]
    assert a is not None and [s.unchanged_tensors for s in a.steps] == [None, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_frozen_params_and_moving_integer_buffers_are_told_apart() -> None:
    measured = measure(_sources(_states()), GROUPING)
    params, buffers = measured.series[0]
    assert params is not None and params.frozen and params.steps[2].rel_change_prev == 0.0
    assert buffers is not None and not buffers.frozen  # num_batches_tracked counts up
    assert buffers.steps[1].unchanged_tensors == 0.0 and buffers.steps[1].rel_change_prev is None
    b = measured.series[1][0]
    assert b is not None and b.steps[1].unchanged_tensors == 0.5  # b.v unchanged, b.w moved
    v_bytes, w_bytes = 3 * 2, (CHUNK + 11) * 4
    assert b.steps[1].unchanged_bytes == pytest.approx(v_bytes / (v_bytes + w_bytes))


def test_nan_and_inf_are_counted_and_flagged_as_a_jump() -> None:
    states = _states()
    broken = states[2]["b.w"].clone()
    broken[:3] = float("nan")
    broken[5] = float("inf")
    states[2]["b.w"] = broken
    refs = [CheckpointRef(f"e{i}", i, f"c{i}") for i in range(3)]
    series = measure(_sources(states), GROUPING).series[1][0]
    assert series is not None and (series.steps[2].nan, series.steps[2].inf) == (3, 1)
    flagged = flag_jumps(series, refs)
    assert flagged.steps[2].jump == "NaN/Inf appeared: 3 NaN and 1 Inf values"


def test_unchanged_means_the_same_bits_whatever_the_distance_says() -> None:
    """A zero distance is not enough (+0.0 became -0.0), and a NaN distance is not a change (the same NaN
    bits): both are decided on the bits."""
    big = torch.randn(2 * CHUNK)
    big[7] = 0.0
    signed, nan = big.clone(), big.clone()
    signed[7] = -0.0
    nan[3] = float("nan")
    small = torch.randn(5)
    states = [
        {"a.w": big, "b.w": nan, "b.v": small},
        {"a.w": signed, "b.w": nan.clone(), "b.v": small.clone()},
    ]
    grouping = Grouping("t", (LayerGroup("a", ("a.w",)), LayerGroup("b", ("b.w", "b.v"))))
    measured = measure(_sources(states), grouping)
    a, b = measured.series[0][0], measured.series[1][0]
    assert a is not None and a.steps[1].rel_change_prev == 0.0 and a.steps[1].unchanged_tensors == 0.0
    assert b is not None and b.steps[1].unchanged_tensors == 1.0 and b.steps[1].nan == 1


def test_different_checkpoints_are_refused_with_the_tensor_named() -> None:
    states = _states()
    states[1]["b.v"] = torch.zeros(4, dtype=torch.float16)
    with pytest.raises(CheckpointError, match=r"tensor b\.v is"):
        measure(_sources(states), GROUPING)


def _series(changes: list[float | None]) -> KindSeries:
    steps = tuple(
        Step(c, None, 0.0, None, None, 1.0, None if c is None else (1.0 if c == 0 else 0.0), None, 0, 0)
        for c in changes
    )
    return KindSeries("params", 1, 1, 4, steps)


def test_jump_is_judged_per_epoch_against_the_groups_own_history() -> None:
    refs = [CheckpointRef(f"e{e}", e, "") for e in (0, 1, 2, 3, 13)]
    # 0.2 over 10 epochs is 0.02 per epoch: no jump; 0.2 in one epoch after ~0.01 per epoch: a jump
    assert all(s.jump is None for s in flag_jumps(_series([None, 0.01, 0.012, 0.011, 0.2]), refs).steps)
    refs = [CheckpointRef(f"e{e}", e, "") for e in (0, 1, 2, 3, 4)]
    jumped = flag_jumps(_series([None, 0.01, 0.012, 0.011, 0.2]), refs).steps[4].jump
    assert jumped is not None and "18×" in jumped and "0.011 per epoch" in jumped
    woke = flag_jumps(_series([None, 0.0, 0.0, 0.003]), refs[:4]).steps[3].jump
    assert woke == "started changing after being bitwise frozen over 3 checkpoints"


def test_timm_groups_follow_group_matcher() -> None:
    import timm

    with torch.device("meta"):
        model = timm.create_model("resnet18", num_classes=10)
    coarse = frameworks.get("timm").layer_groups(model)
    assert [g.name for g in coarse.groups] == ["conv1+bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
    fine = frameworks.get("timm").layer_groups(model, fine=True)
    assert [g.name for g in fine.groups][1:4] == ["layer1.0", "layer1.1", "layer2.0"]
    layer1 = coarse.groups[1]
    assert all(k.endswith(("weight", "bias")) for k in layer1.params)
    assert {k.rsplit(".", 1)[1] for k in layer1.buffers} == {
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }
    every = {k for g in coarse.groups for k in (*g.params, *g.buffers)}
    assert every == set(model.state_dict())


def test_open_clip_groups_mirror_lock_for_both_towers() -> None:
    vit = frameworks.get("open_clip").layer_groups(_meta_clip())
    assert [(g.name, g.tower) for g in vit.groups] == [
        ("visual.embed", "image"), ("visual.blocks.0", "image"), ("visual.blocks.1", "image"),
        ("visual.blocks.2+norm", "image"), ("visual.proj", "image"),
        ("text.embed", "text"), ("text.blocks.0", "text"), ("text.blocks.1+norm", "text"),
        ("text.proj", "text"), ("logit_scale", None),
    ]  # fmt: skip
    assert set(vit.groups[0].params) == {
        "visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding",
        "visual.ln_pre.weight", "visual.ln_pre.bias",
    }  # fmt: skip
    tower = frameworks.get("open_clip").layer_groups(
        _meta_clip(
            timm_model_name="resnet18", timm_model_pretrained=False, timm_pool="avg", timm_proj="linear"
        )
    )
    names = [g.name for g in tower.groups]
    assert names[:3] == ["visual.trunk.conv1+bn1", "visual.trunk.layer1.0", "visual.trunk.layer1.1"]
    assert "visual.head" in names and tower.groups[0].buffers  # BatchNorm statistics of the trunk


@pytest.mark.parametrize(
    ("locks", "unlocked", "expected"),
    [
        (
            ("image",),
            {"image": 1},
            ["visual.embed", "visual.blocks.0", "visual.blocks.1", "visual.blocks.2+norm"],
        ),
        (("image",), {"image": 2}, ["visual.embed", "visual.blocks.0", "visual.blocks.1"]),
        (("text",), {}, ["text.embed", "text.blocks.0", "text.blocks.1+norm", "text.proj"]),
        (("text",), {"text": 1}, ["text.embed", "text.blocks.0", "text.blocks.1+norm"]),
    ],
)
def test_open_clip_lock_plan_is_what_open_clip_lock_freezes(
    locks: tuple[str, ...], unlocked: dict[str, int], expected: list[str]
) -> None:
    model = _meta_clip()
    grouping = frameworks.get("open_clip").layer_groups(model)
    plan = frameworks.get("open_clip").lock_plan(
        model, Hyperparams(locked_towers=locks, unlocked_groups=unlocked, raw={})
    )
    frozen = [g.name for g, e in zip(grouping.groups, plan.expectations(grouping), strict=True) if e.frozen]
    assert frozen == expected
    assert all(p.requires_grad for p in model.parameters())  # the caller's model is untouched


def _report(states: list[dict[str, torch.Tensor]]) -> object:
    import timm

    with torch.device("meta"):
        model = timm.create_model("test_resnet", num_classes=4)
    refs = [CheckpointRef(f"epoch {i}", i, f"c{i}") for i in range(len(states))]
    raw = {"lock": True, "lock_unlocked_groups": 1, "lock_freeze_bn_stats": True}
    return build_report(
        "mem", frameworks.get("timm"), "test_resnet", model, Hyperparams(raw=raw), refs, _sources(states)
    )


def test_report_json_picture_and_claims_on_a_locked_timm_model() -> None:
    import timm

    from hubkit.dynamics.plot import render_dynamics
    from hubkit.dynamics.render import summary_lines

    torch.manual_seed(0)
    base = timm.create_model("test_resnet", num_classes=4).state_dict()
    later = {k: v.clone() for k, v in base.items()}
    later["fc.weight"] += 0.1
    moved = {k: v.clone() for k, v in later.items()}
    moved["layer1.0.bn1.running_mean"] += 0.5  # a frozen group's statistics move
    report = _report([base, later, moved])
    assert report.frozen_expected == ("conv1+bn1", "layer1", "layer2", "layer3", "layer4")  # type: ignore[attr-defined]
    assert report.frozen_observed == report.frozen_expected  # type: ignore[attr-defined]
    failed = [f for f in report.findings if f.failed]  # type: ignore[attr-defined]
    assert [(f.group, f.kind) for f in failed] == [("layer1", "buffers_moved")]
    assert (
        "group 'layer1'" in failed[0].message
        and "although BatchNorm statistics were to be frozen" in failed[0].message
    )
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))  # type: ignore[attr-defined]
    assert data["frozen"]["observed"] == list(report.frozen_observed) and data["passed"] is False  # type: ignore[attr-defined]
    assert data["unchanged_share"][0] is None and 0.9 < data["unchanged_share"][1] < 1.0
    assert any(line.startswith("MISMATCH: group 'layer1'") for line in summary_lines(report))  # type: ignore[arg-type]
    png = render_dynamics(report)  # type: ignore[arg-type]
    assert png[:4] == b"\x89PNG" and png == render_dynamics(report)  # type: ignore[arg-type]


def test_the_terminal_table_shows_the_last_steps_that_fit_unwrapped() -> None:
    import timm
    from rich.console import Console

    from hubkit.dynamics.render import table

    torch.manual_seed(0)
    states = [timm.create_model("test_resnet", num_classes=4).state_dict()]
    for _ in range(8):
        states.append(
            {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in states[-1].items()}
        )
    report = _report(states)

    def shown(width: int) -> str:
        console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
        console.print(table(report, width=width))  # type: ignore[arg-type]
        console.file.close()
        return console.export_text()

    narrow, wide = shown(80), shown(300)
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert "…" not in narrow  # no cell cut short
    assert (
        "epoch 8" in narrow
        and "epoch 1 " not in narrow
        and "of 8 steps (--json and -o have them all)" in narrow
    )
    assert all(f"epoch {i}" in wide for i in range(1, 9)) and "steps (--json" not in wide


def test_released_checkpoint_pages_read_back_the_same(tmp_path: Path) -> None:
    state = {"w": torch.randn(512, 1024), "b": torch.randn(1024)}
    torch.save({"epoch": 0, "state_dict": state}, tmp_path / "c.pt")
    # loaded by the caller's loader (a publish hands over what it loaded): tensors are views of the mapping
    source = CheckpointWeights(tmp_path / "c.pt", "raw", frameworks.get("timm"), load=load_checkpoint)
    assert source._pages is None  # safe-loaded on first use
    tensor = source.tensor("w")
    assert source._pages is not None and source._pages.spans  # mapped privately; released pages drop
    assert torch.equal(tensor, state["w"])
    source.release(tensor)
    assert torch.equal(source.tensor("w"), state["w"])  # dropped pages come back from the file
    assert math.isclose(float(source.tensor("b").sum()), float(state["b"].sum()))


def _read(
    source: CheckpointWeights | SafetensorsWeights, key: str, start: int, stop: int, dtype: torch.dtype
) -> torch.Tensor:
    out = torch.full(((stop - start) * dtype.itemsize,), 7, dtype=torch.uint8)
    source.read_into(key, start, stop, out)
    return out.view(dtype)


def test_checkpoint_reads_come_from_the_file_at_each_tensors_offset(tmp_path: Path) -> None:
    state = {"w": torch.randn(64, 33), "h": torch.randn(5, 3).half(), "t": torch.randn(9, 4).t()}
    torch.save({"epoch": 0, "state_dict": state}, tmp_path / "c.pt")
    source = CheckpointWeights(tmp_path / "c.pt", "raw", frameworks.get("timm"), load=load_checkpoint)
    for key, value in state.items():
        flat = value.reshape(-1)
        assert torch.equal(_read(source, key, 0, flat.numel(), value.dtype), flat)
        assert torch.equal(_read(source, key, 5, 12, value.dtype), flat[5:12])
    assert source._pages is not None and source._fd is not None  # pread from the mapped file's offsets
    assert source._pages.file_offset(source.tensor("w").data_ptr(), 4) is not None
    assert source._pages.file_offset(0, 4) is None  # an address outside the mapping
    source.close()
    assert source._fd is None


def test_an_unmapped_legacy_checkpoint_is_read_from_memory(tmp_path: Path) -> None:
    state = {"w": torch.randn(40, 7)}
    torch.save({"epoch": 0, "state_dict": state}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    source = CheckpointWeights(tmp_path / "old.pt", "raw", frameworks.get("timm"))
    assert torch.equal(_read(source, "w", 3, 250, torch.float32), state["w"].reshape(-1)[3:250])
    assert source._fd is None  # nothing to pread: the legacy format is not memory-mapped


def test_a_checkpoint_cut_short_after_loading_is_an_error_not_zeros(tmp_path: Path) -> None:
    state = {"w": torch.randn(256, 256)}
    torch.save({"epoch": 0, "state_dict": state}, tmp_path / "c.pt")
    source = CheckpointWeights(tmp_path / "c.pt", "raw", frameworks.get("timm"))
    source.metadata()  # loaded and mapped
    size = (tmp_path / "c.pt").stat().st_size
    os.truncate(tmp_path / "c.pt", size // 2)
    with pytest.raises(CheckpointError, match="ended early"):
        _read(source, "w", 0, 256 * 256, torch.float32)


def test_safetensors_views_read_the_file_and_survive_release(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = {"w": torch.randn(300, 50), "h": torch.randn(7).half(), "n": torch.tensor(3), "e": torch.zeros(0)}
    save_file(state, tmp_path / "m.safetensors")
    source = SafetensorsWeights(tmp_path / "m.safetensors", name="rev")
    assert source.metadata()["h"] == ((7,), torch.float16)
    for key, value in state.items():
        tensor = source.tensor(key)
        assert torch.equal(tensor, value)
        source.release(tensor)
        assert torch.equal(source.tensor(key), value)
        if value.numel() and value.dtype.is_floating_point:
            flat = value.reshape(-1)
            assert torch.equal(_read(source, key, 1, flat.numel(), value.dtype), flat[1:])
    source.close()


def test_a_framework_without_its_own_grouping_gets_top_level_modules() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    grouping = groups_by_module(model)
    assert [(g.name, len(g.params), len(g.buffers)) for g in grouping.groups] == [
        ("0", 2, 0),
        ("1", 2, 3),
        ("2", 2, 0),
    ]
