"""``hubkit decode``: summary, JSON, the two OpenCLIP forms, exit codes, and no torch on the path."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from hubkit.cli import main


class Result:
    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code, self.output = exit_code, output


Runner = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Runner:
    """Run ``hubkit decode ARGS`` through the real entry point (error table and exit codes included)."""

    def _run(*args: str) -> Result:
        code = 0
        try:
            main(["decode", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out + out.err)

    return _run


def test_summary_names_tokens_and_sources(run: Runner) -> None:
    result = run("resnet50.a1_in1k")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "resnet50.a1_in1k  [timm]"
    assert "  recipe:       ResNet Strikes Back A1 (from 'a1'; arXiv:2110.00476)" in lines
    assert "                - optimizer LAMB" in lines
    assert "  dataset:      train    ImageNet-1k (from 'in1k', Hub: ILSVRC/imagenet-1k)" in lines


def test_json_is_the_full_structure(run: Runner) -> None:
    result = run("beit_base_patch16_224.in22k_ft_in22k_in1k", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert list(data)[:4] == ["raw", "form", "architecture", "pretrained"]
    assert [s["stage"] for s in data["lineage"]] == ["pretrain", "finetune", "finetune"]
    assert data["fully_decoded"] is True and data["unknown_tokens"] == []


def test_openclip_slash_and_two_argument_forms_agree(run: Runner) -> None:
    a = run("ViT-B-32/laion2b_s34b_b79k", "--json")
    b = run("ViT-B-32", "laion2b_s34b_b79k", "--json")
    assert a.exit_code == b.exit_code == 0
    assert a.output == b.output
    data = json.loads(a.output)
    assert (data["samples_seen"]["value"], data["global_batch_size"]["value"]) == (34_000_000_000, 79_000)


def test_unknown_tokens_print_partial_decode_and_exit_2(run: Runner) -> None:
    result = run("resnet50.qqq_zzz")
    assert result.exit_code == 2
    assert "UNKNOWN:      qqq, zzz (no vocabulary entry; not guessed)" in result.output
    assert "unknown tokens: qqq, zzz" in result.output
    assert run("resnet50.qqq_zzz", "--allow-unknown").exit_code == 0


def test_malformed_tag_exits_2_with_hint(run: Runner) -> None:
    result = run("resnet50..a1")
    assert result.exit_code == 2
    assert "hint:" in result.output


def test_decode_path_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from hubkit.cli import main\n"
        "try:\n    main(['decode', 'resnet50.a1_in1k', '--json'])\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'timm', 'open_clip') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"raw": "resnet50.a1_in1k"' in done.stdout
