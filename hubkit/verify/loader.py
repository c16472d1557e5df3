"""Load any published revision of a timm or OpenCLIP repo, the way a user of that library would.

:func:`load_revision` downloads the revision into a cache of its own (never the files that were uploaded,
never the user's HF cache), then reloads it through the library's own loader:

- timm: ``timm.create_model("hf-hub:ORG/NAME@REV", pretrained=True)``: timm resolves ``config.json`` and
  ``model.safetensors`` itself, through :func:`hubkit.verify.hubenv.hub_session` so that its endpoint-less
  ``hf_hub_download`` calls reach the Hub being verified. The model is built directly on the device.
- OpenCLIP: from the downloaded snapshot (``local-dir:``), because open_clip's ``hf-hub:`` loader has no
  revision argument; the weights go straight to the device with ``open_clip.load_checkpoint(device=...)``.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hubkit.errors import HubError, VerificationError
from hubkit.hub.client import with_retries
from hubkit.verify.device import synchronize
from hubkit.verify.hubenv import hub_session

if TYPE_CHECKING:
    import torch

Library = Literal["timm", "open_clip"]

# Which library a snapshot belongs to, recognised by the config file each library's Hub loader reads.
# Source: timm/models/_hub.py (config.json + model.safetensors), open_clip/factory.py (open_clip_config.json).
LIBRARY_FILES: dict[Library, tuple[str, str]] = {
    "open_clip": ("open_clip_config.json", "open_clip_model.safetensors"),
    "timm": ("config.json", "model.safetensors"),
}
HUBKIT_RECORD = "hubkit.json"
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class LoadedModel:
    """A revision reloaded through its library, on a device, with what is needed to evaluate it."""

    repo_id: str  # "org/resnet-digits"
    revision: str  # "epoch-3" (as asked for: branch, tag or commit)
    commit: str  # "3f2a9c1e…" (40 hex digits the revision resolved to)
    library: Library  # "timm" | "open_clip"
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


def load_revision(
    repo_id: str,
    revision: str,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> LoadedModel:
    """Download ``repo_id@revision`` into a fresh cache and reload it with timm or open_clip.

    Args:
        repo_id: ``ORG/NAME``.
        revision: branch, tag or commit.
        endpoint: Hub URL (None: huggingface_hub's configured endpoint).
        token: Hub token (None: the configured one).
        cache_dir: HF cache to download into; None makes a new temporary one (left on disk for the
            caller: the snapshot lives there). Pass an empty directory to keep the reload honest.
        device: where the model goes (``"cpu"``, ``"cuda"``, a ``torch.device``).

    Returns:
        :class:`LoadedModel`; raises :class:`HubError` when the revision cannot be downloaded and
        :class:`VerificationError` when the library cannot load it.

    Example:
        >>> loaded = load_revision("org/resnet-digits", "epoch-3", endpoint="http://127.0.0.1:8123")
        >>> loaded.library, loaded.model.num_classes
        ('timm', 10)
    """
    import torch

    device = torch.device(device)
    cache = Path(cache_dir) if cache_dir is not None else Path(tempfile.mkdtemp(prefix="hubkit-verify-"))
    started = time.perf_counter()
    snapshot = download_revision(repo_id, revision, endpoint=endpoint, token=token, cache_dir=cache)
    download_s = time.perf_counter() - started
    commit = snapshot.name
    library = detect_library(snapshot, repo_id, revision)
    config_file, weights_file = LIBRARY_FILES[library]
    config = _read_json(snapshot / config_file)
    record_path = snapshot / HUBKIT_RECORD
    record = _read_json(record_path) if record_path.is_file() else None

    started = time.perf_counter()
    try:
        if library == "timm":
            # timm asks the Hub again (HEAD per file): a transient 5xx there is retried, not a failed load.
            model, transform, tokenizer = with_retries(
                _load_timm,
                repo_id,
                revision,
                endpoint,
                token,
                cache,
                device,
                what=f"loading {repo_id}@{revision}",
            )
            _check_same_commit(cache, repo_id, revision, commit)
        else:
            model, transform, tokenizer = _load_open_clip(snapshot, weights_file, device)
    except VerificationError:
        raise
    except Exception as exc:  # any loader failure is a verification finding, with its cause
        raise VerificationError(
            f"{repo_id}@{revision}: {library} could not load the revision: {type(exc).__name__}: {exc}",
            hint="check the published config and weights files (hubkit verify --json shows the details)",
        ) from exc
    model.eval()
    synchronize(device)
    load_s = time.perf_counter() - started
    return LoadedModel(
        repo_id=repo_id,
        revision=revision,
        commit=commit,
        library=library,
        model=model,
        transform=transform,
        tokenizer=tokenizer,
        config=config,
        snapshot_path=snapshot,
        weights_file=weights_file,
        device=str(device),
        record=record,
        timings={"download_s": download_s, "load_s": load_s},
    )


def download_revision(
    repo_id: str, revision: str, *, endpoint: str | None, token: str | None, cache_dir: Path
) -> Path:
    """Download every file of ``repo_id@revision`` into ``cache_dir``; return the snapshot folder.

    Example:
        >>> download_revision("org/name", "main", endpoint=None, token=None, cache_dir=Path("c")).name
        '3f2a9c1e…'
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = with_retries(
            snapshot_download,
            repo_id,
            revision=revision,
            cache_dir=str(cache_dir),
            endpoint=endpoint,
            token=token,
            tqdm_class=_silent_tqdm(),
            what=f"downloading {repo_id}@{revision}",
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        raise HubError(
            f"could not download {repo_id}@{revision}: {type(exc).__name__}: {exc}",
            hint="check the repo id, the revision name (hubkit verify --all lists them), --endpoint and --token",
        ) from exc
    return Path(path)


def _silent_tqdm() -> Any:
    """A tqdm class that prints nothing: hubkit reports its own progress."""
    from tqdm.auto import tqdm

    class Silent(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def detect_library(snapshot: Path, repo_id: str = "", revision: str = "") -> Library:
    """Tell which library a downloaded revision is for, from the config file it carries.

    Example:
        >>> detect_library(Path("snapshots/3f2a"))
        'timm'
    """
    for library, (config_file, weights_file) in LIBRARY_FILES.items():
        if (snapshot / config_file).is_file():
            if not (snapshot / weights_file).is_file():
                raise VerificationError(
                    f"{repo_id}@{revision} has {config_file} but no {weights_file}",
                    hint="publish the safetensors weights next to the config (hubkit publish does)",
                )
            return library
    names = sorted(p.name for p in snapshot.iterdir())
    raise VerificationError(
        f"{repo_id}@{revision} is neither a timm nor an OpenCLIP model repo (files: {names})",
        hint="a timm revision needs config.json + model.safetensors; OpenCLIP needs open_clip_config.json",
    )


def _load_timm(
    repo_id: str, revision: str, endpoint: str | None, token: str | None, cache: Path, device: torch.device
) -> tuple[Any, Any, None]:
    import timm
    import torch
    from timm.data import create_transform, resolve_data_config

    # Built under the device context: parameters are created on the device, and timm copies the weights
    # it read from model.safetensors straight into them.
    with hub_session(endpoint, token, cache), torch.device(device):
        model = timm.create_model(f"hf-hub:{repo_id}@{revision}", pretrained=True, cache_dir=str(cache))
    model = model.to(device)
    data_config = resolve_data_config({}, model=model)
    return model, create_transform(**data_config, is_training=False), None


def _load_open_clip(snapshot: Path, weights_file: str, device: torch.device) -> tuple[Any, Any, Any]:
    import open_clip

    name = f"local-dir:{snapshot}"
    # open_clip warns "initialized randomly" because the weights are loaded on the next line; hide that.
    with quiet_root_warnings():
        model, _, transform = open_clip.create_model_and_transforms(name, load_weights=False, device=device)
    open_clip.load_checkpoint(model, str(snapshot / weights_file), strict=True, device=str(device))
    return model, transform, open_clip.get_tokenizer(name)


@contextmanager
def quiet_root_warnings() -> Iterator[None]:
    """Silence root-logger warnings for a block (open_clip logs through the root logger)."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _check_same_commit(cache: Path, repo_id: str, revision: str, commit: str) -> None:
    """Fail when the branch moved between the download and timm's own resolution of it."""
    if _COMMIT_RE.match(revision):
        return
    ref = cache / f"models--{repo_id.replace('/', '--')}" / "refs" / revision
    if ref.is_file() and ref.read_text().strip() != commit:
        raise VerificationError(
            f"{repo_id}@{revision} moved to {ref.read_text().strip()[:12]} while commit {commit[:12]} was verified",
            hint="re-run the verification once publishing to this revision has finished",
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationError(f"{path.name} of the downloaded revision is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise VerificationError(f"{path.name} of the downloaded revision is not a JSON object")
    return data
