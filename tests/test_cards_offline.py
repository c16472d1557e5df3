"""``hubkit card`` for a tag never downloads anything: it works offline with sockets refused."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from test_cards_lint import markdown_problems

from hubkit.cli import main


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """HF_HUB_OFFLINE=1 and every socket connect refused (and recorded)."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object, *args: object, **kwargs: object) -> None:
        attempts.append(address)
        raise OSError(f"network access attempted in an offline test: {address!r}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.mark.parametrize(
    "args",
    [
        ["eva02_large_patch14_448.mim_m38m_ft_in22k_in1k"],
        ["ViT-B-32", "laion2b_s34b_b79k"],
        ["vit_small_patch14_dinov2.lvd142m", "--repo-id", "org/dino", "--revision", "v1"],
        ["ViT-B-32/laion2b_s34b_b79k", "--repo-id", "org/clip", "--revision", "v2"],
    ],
)
def test_card_is_offline(args: list[str], no_network: list[object], tmp_path: Path) -> None:
    out = tmp_path / "README.md"
    main(["card", *args, "-o", str(out)])
    assert no_network == []
    card = ModelCard.load(out)  # a local path: huggingface_hub reads it without the network
    assert card.data.library_name in ("timm", "open_clip")
    assert "Params (M)" in card.text
    hf_home = Path(os.environ["HF_HOME"])
    downloaded = [p for p in hf_home.rglob("*") if p.is_file()] if hf_home.exists() else []
    assert downloaded == []
    assert markdown_problems(out.read_text(encoding="utf-8")) == []
    if "--revision" in args:  # usage code pins the revision the card is for
        assert 'revision="v2"' in card.text or "hf-hub:org/dino@v1" in card.text
