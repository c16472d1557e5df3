"""What :func:`hubkit.verify.load_revision` returns: a revision reloaded through its framework.

Its own module (data only) so that the framework objects can name it without importing the loader,
which asks them (:mod:`hubkit.frameworks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LoadedModel:
    """A revision reloaded through its library, on a device, with what is needed to evaluate it."""

    repo_id: str  # "org/resnet-digits"
    revision: str  # "epoch-3" (as asked for: branch, tag or commit)
    commit: str  # "3f2a9c1e…" (40 hex digits the revision resolved to)
    library: str  # "timm": the framework's name (hubkit.frameworks.get(library))
    model: Any = field(repr=False)  # torch.nn.Module in eval mode on ``device``
    transform: Any = field(repr=False)  # eval image transform (PIL image -> tensor)
    tokenizer: Any = field(repr=False)  # OpenCLIP tokenizer; None for timm
    config: dict[str, Any] = field(repr=False)  # config.json / open_clip_config.json as published
    snapshot_path: Path = Path()  # <cache>/models--org--name/snapshots/<commit>
    weights_file: str = ""  # "model.safetensors" / "open_clip_model.safetensors"
    device: str = "cpu"  # "cuda:0" / "cpu"
    record: dict[str, Any] | None = field(default=None, repr=False)  # hubkit.json when the revision has one
    timings: dict[str, float] = field(default_factory=dict)  # {"download_s": 0.4, "load_s": 1.2}

    @property
    def weights_path(self) -> Path:
        return self.snapshot_path / self.weights_file
