"""A released MMPreTrain zoo checkpoint, as a one-checkpoint run (mirroring the dead zoo to the Hub).

MMPreTrain names its released files ``{name}_{YYYYMMDD}-{hash8}.pth``, ``hash8`` being the first eight hex
digits of the file's sha256 (``tools/model_converters/publish_model.py``). A folder holding one such file
is read as a release: the model is the zoo entry whose ``Weights`` URL ends in that file name (else the
one named by the part before the date), its config is the one the installed wheel ships for it (read
without executing it), its results are the metafile's, and the file's sha256 must start with ``hash8``.

    hubkit publish zoo/resnet50/          # zoo/resnet50/resnet50_8xb32_in1k_20210831-ea4938fc.pth
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from hubkit.errors import CheckpointError, RunDirError
from hubkit.runs.model import CheckpointInfo, EpochMetrics, TrainingRun

if TYPE_CHECKING:
    from hubkit.tags.mmpretrain_metafile import ZooModel

ZOO_FILE = re.compile(r"^(?P<stem>.+)_(?P<date>\d{8})-(?P<hash>[0-9a-f]{8})\.pth$")


def zoo_file(path: Path) -> Path | None:
    """The one ``{name}_{date}-{hash8}.pth`` file of ``path`` (None when there is not exactly one)."""
    if not path.is_dir():
        return None
    found = [p for p in path.iterdir() if p.is_file() and ZOO_FILE.match(p.name)]
    return found[0] if len(found) == 1 else None


def _zoo_model(file: Path) -> ZooModel:
    from hubkit.tags.mmpretrain_metafile import zoo

    models = zoo()
    by_file = {PurePosixPath(m.weights).name: m for m in models.values() if m.weights}
    if file.name in by_file:
        return by_file[file.name]
    match = ZOO_FILE.match(file.name)
    stem = match.group("stem").lower() if match else ""
    if stem in models:
        return models[stem]
    raise RunDirError(
        f"{file.name} is named like an MMPreTrain release, but no model of the installed zoo has this file "
        f"or the name {stem!r}",
        hint="Keep the file name the zoo gave it ({name}_{date}-{hash8}.pth); check mmpretrain.list_models().",
    )


def is_zoo_release(path: Path) -> bool:
    """True when ``path`` holds exactly one file named like an MMPreTrain release."""
    return zoo_file(path) is not None


def read_zoo_release(path: Path) -> TrainingRun:
    """Read a folder holding one released zoo checkpoint (see the module docstring).

    Raises:
        CheckpointError: the file's sha256 does not start with the ``hash8`` of its name.
        RunDirError: no zoo model has this file or name.

    Example:
        >>> read_zoo_release(Path("zoo/resnet50")).name
        'resnet50_8xb32_in1k'
    """
    from hubkit.hashing import sha256_file
    from hubkit.runs.mmconfig import read_config
    from hubkit.runs.read_mmpretrain import _eval_transform, hyperparams
    from hubkit.tags.mmpretrain_metafile import mim_root

    file = zoo_file(path)
    if file is None:
        raise RunDirError(
            f"{path} holds no MMPreTrain release file", hint="Put the {name}_{date}-{hash8}.pth file in it."
        )
    model = _zoo_model(file)
    expected = file.name.rsplit("-", 1)[-1].removesuffix(".pth")  # the hash8 ZOO_FILE matched
    digest = sha256_file(file)
    if not digest.startswith(expected):
        raise CheckpointError(
            f"{file} has sha256 {digest[:16]}…, but its name says it starts with {expected}: the file "
            "is damaged or not the release it is named after",
            hint="Download or copy the release again; hubkit publishes a zoo file only when its hash matches.",
        )
    config_path = mim_root() / model.config
    cfg = read_config(config_path)
    epoch = model.epochs or 0
    metrics = {
        name: value
        for name, value in (("accuracy/top1", model.top1), ("accuracy/top5", model.top5))
        if value is not None
    }
    epochs = (EpochMetrics(epoch, metrics),) if metrics else ()
    backbone = (cfg.get("model") or {}).get("backbone") or {}
    arch = model.name.split("_")[0] if "_" in model.name else str(backbone.get("type", "unknown")).lower()
    checkpoint = CheckpointInfo(
        epoch=epoch,
        path=file,
        size=file.stat().st_size,
        metrics=epochs[0] if epochs else None,
        epoch_source="metafile",
    )
    return TrainingRun(
        framework="mmpretrain",
        path=path,
        name=model.name,
        architecture=arch,
        num_classes=((cfg.get("model") or {}).get("head") or {}).get("num_classes"),
        hyperparams=hyperparams(cfg),
        epochs=epochs,
        checkpoints=(checkpoint,),
        primary_metric="accuracy/top1",
        higher_is_better=True,
        args_file=config_path,
        metrics_file=mim_root() / model.metafile,
        dataset=((cfg.get("train_dataloader") or {}).get("dataset") or {}).get("type"),
        eval_transform_source=_eval_transform(cfg),
        model_config=cfg,
        model_config_path=config_path,
        notes=(
            f"a released zoo checkpoint of {model.name} (sha256 {digest[:12]}… matches its name); config "
            f"{model.config} and results from the installed mmpretrain's metafile {model.metafile}",
        ),
    )
