"""Evaluation data for quick-eval: image folders (classification, zero-shot) and image/caption CSVs (retrieval).

Every image is decoded and transformed once, by a ``DataLoader`` (0–2 workers) that stacks batches; the
evaluation loops only move whole batches. Image folders are read with timm's own ``ImageDataset`` so the
class order is the one timm's ``train.py`` used when it recorded ``eval_top1`` (timm sorts class folders
in natural order, torchvision alphabetically: they differ for names like ``class2``/``class10``).
The CSV layout is open_clip_train's ``--csv-img-key/--csv-caption-key/--csv-separator`` format.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.errors import InputError

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader, Dataset

MAX_WORKERS = 2


@dataclass(frozen=True)
class EvalData:
    """Where quick-eval reads its samples from."""

    path: Path  # image folder root (one sub-folder per class) or a CSV of image/caption pairs
    kind: str  # "image-folder" or "csv"
    origin: str  # "--eval-data", "the run's args" or "hubkit.json args"
    csv_img_key: str = "filepath"  # open_clip_train default column names and separator
    csv_caption_key: str = "title"
    csv_separator: str = "\t"


def eval_data_from_path(path: str | Path, origin: str = "--eval-data", **csv_keys: str) -> EvalData:
    """Classify ``path`` as an image folder or a CSV file.

    Args:
        path: a directory with one sub-folder per class, or a ``.csv``/``.tsv`` file.
        origin: where the path came from, for messages and the report.
        csv_keys: ``csv_img_key``, ``csv_caption_key``, ``csv_separator`` overrides.

    Example:
        >>> eval_data_from_path("data/val").kind
        'image-folder'
    """
    path = Path(path)
    if path.is_dir():
        return EvalData(path, "image-folder", origin)
    if path.is_file():
        return EvalData(path, "csv", origin, **csv_keys)
    raise InputError(
        f"evaluation data {path} ({origin}) does not exist",
        hint="pass --eval-data with an image folder (one sub-folder per class) or a CSV of image/caption pairs",
    )


def subset_indices(total: int, limit: int | None) -> list[int] | None:
    """Pick ``limit`` of ``total`` samples, spread evenly (class folders are sorted, so a prefix is one class).

    Example:
        >>> subset_indices(10, 4)
        [0, 2, 5, 7]
    """
    if limit is None or limit >= total:
        return None
    if limit <= 0:
        raise InputError(f"--limit must be a positive number of samples, got {limit}")
    step = total / limit
    return [math.floor(i * step) for i in range(limit)]


def image_folder_dataset(root: Path, transform: Callable[[Any], Any]) -> Dataset[Any]:
    """timm's ``ImageDataset`` over ``root``; raises :class:`InputError` when it holds no images.

    Example:
        >>> ds = image_folder_dataset(Path("val"), transform)
        >>> class_names(ds)[:3]
        ['0', '1', '2']
    """
    from timm.data import ImageDataset

    try:
        dataset = ImageDataset(str(root), transform=transform)
    except (RuntimeError, FileNotFoundError) as exc:
        raise InputError(
            f"{root} is not a usable image folder: {exc}",
            hint="lay images out as ROOT/<class name>/<image>.png (the layout timm's train.py reads)",
        ) from exc
    if len(dataset) == 0:
        raise InputError(f"image folder {root} holds no images", hint="check the path")
    return dataset


def class_names(dataset: Any) -> list[str]:
    """Class names of a timm ``ImageDataset`` in label order."""
    mapping: dict[str, int] = dataset.reader.class_to_idx
    return [name for name, _ in sorted(mapping.items(), key=lambda item: item[1])]


class CaptionCsvDataset:
    """Image/caption pairs from a CSV in open_clip_train's format; yields ``(image, token_ids)``.

    Relative image paths are tried against the working directory first (what open_clip_train does) and
    then against the CSV's own folder, so a run dir that moved still verifies.
    """

    def __init__(
        self, data: EvalData, transform: Callable[[Any], Any], tokenizer: Callable[..., Any]
    ) -> None:
        self.transform = transform
        self.tokenizer = tokenizer
        with data.path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter=data.csv_separator)
            fields = reader.fieldnames or []
            missing = [k for k in (data.csv_img_key, data.csv_caption_key) if k not in fields]
            if missing:
                raise InputError(
                    f"{data.path} has no column(s) {missing} (columns: {fields})",
                    hint="pass the run's --csv-img-key/--csv-caption-key/--csv-separator, or fix the CSV header",
                )
            rows = [(row[data.csv_img_key], row[data.csv_caption_key]) for row in reader]
        if not rows:
            raise InputError(f"{data.path} lists no image/caption pairs", hint="check the CSV")
        self.images = [self._resolve(data.path.parent, name) for name, _ in rows]
        self.captions = [caption for _, caption in rows]

    @staticmethod
    def _resolve(base: Path, name: str) -> Path:
        path = Path(name)
        if path.is_absolute() or path.exists():
            return path
        return base / path

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        with Image.open(self.images[index]) as image:
            pixels = self.transform(image.convert("RGB"))
        return pixels, self.tokenizer([str(self.captions[index])])[0]


def make_loader(
    dataset: Dataset[Any], *, batch_size: int, workers: int, device: torch.device, limit: int | None = None
) -> DataLoader[Any]:
    """A sequential (never shuffled) batched loader; ``limit`` keeps an evenly spread subset.

    Example:
        >>> loader = make_loader(ds, batch_size=64, workers=2, device=torch.device("cpu"))
    """
    from torch.utils.data import DataLoader, Subset

    indices = subset_indices(len(dataset), limit)  # type: ignore[arg-type]
    if indices is not None:
        dataset = Subset(dataset, indices)
    workers = max(0, min(workers, MAX_WORKERS))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        drop_last=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
