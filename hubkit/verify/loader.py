"""Load any published revision of a timm or OpenCLIP repo, the way a user of that library would.

:func:`load_revision` downloads the revision into a cache of its own (never the files that were uploaded,
never the user's HF cache), recognises its framework by the files it carries
(:func:`hubkit.frameworks.detect_revision`), then reloads it through that framework's loader
(:meth:`hubkit.frameworks.Framework.load`; timm: ``timm.create_model("hf-hub:ORG/NAME@REV")``,
OpenCLIP: the downloaded snapshot through ``local-dir:``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit import frameworks
from hubkit.errors import HubError, VerificationError
from hubkit.frameworks.base import Framework, quiet_root_warnings
from hubkit.hub.client import with_retries
from hubkit.layout import HUBKIT_JSON
from hubkit.verify.device import synchronize
from hubkit.verify.loaded import LoadedModel

if TYPE_CHECKING:
    import torch

__all__ = ["LoadedModel", "detect_library", "download_revision", "load_revision", "quiet_root_warnings"]


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
    framework = detect_library(snapshot, repo_id, revision)
    library, weights_file = framework.name, framework.weights_file
    config = _read_json(snapshot / framework.config_file)
    record_path = snapshot / HUBKIT_JSON
    record = _read_json(record_path) if record_path.is_file() else None

    started = time.perf_counter()
    try:
        model, transform, tokenizer = framework.load(
            repo_id, revision, snapshot, endpoint=endpoint, token=token, cache=cache, device=device
        )
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


def detect_library(snapshot: Path, repo_id: str = "", revision: str = "") -> Framework:
    """Tell which framework a downloaded revision is for, from the release files it carries.

    Example:
        >>> detect_library(Path("snapshots/3f2a")).name
        'timm'
    """
    framework = frameworks.detect_revision(snapshot)
    if framework is not None:
        if not (snapshot / framework.weights_file).is_file():
            raise VerificationError(
                f"{repo_id}@{revision} has {framework.config_file} but no {framework.weights_file}",
                hint="publish the safetensors weights next to the config (hubkit publish does)",
            )
        return framework
    names = sorted(p.name for p in snapshot.iterdir())
    known = frameworks.all_frameworks()
    which = " nor ".join(f.display_name for f in known)
    needs = "; ".join(f"{f.display_name} needs {f.config_file} + {f.weights_file}" for f in known)
    raise VerificationError(
        f"{repo_id}@{revision} is neither a {which} model repo (files: {names})",
        hint=f"a revision of {needs}",
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationError(f"{path.name} of the downloaded revision is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise VerificationError(f"{path.name} of the downloaded revision is not a JSON object")
    return data
