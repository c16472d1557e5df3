"""scikit-learn's digits (1,797 8x8 greyscale images, 10 classes) written as an image folder.

Both examples train on it: it ships inside scikit-learn, so nothing is downloaded. The split is
deterministic: within each class, every fifth image (in dataset order) goes to validation.

    <root>/train/<class>/<index>.png     (about 1,437 images)
    <root>/val/<class>/<index>.png       (about 360 images)
"""

from __future__ import annotations

from pathlib import Path

# Class folder names sort in label order ("0" < "1" < ... < "9"), which is what ImageFolder-style
# datasets use to number classes.
CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VAL_EVERY = 5


def write_digits(root: str | Path, *, max_per_class: int | None = None) -> dict[str, list[tuple[Path, int]]]:
    """Write the digits as PNGs under ``root`` (idempotent) and return ``{split: [(path, label), ...]}``.

    Args:
        root: folder to write ``train/`` and ``val/`` into.
        max_per_class: keep only the first N images of each class (smaller, faster runs for tests).

    Example:
        >>> files = write_digits("runs/timm-digits/data")
        >>> len(files["train"]), len(files["val"])
        (1437, 360)
    """
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).round().clip(0, 255).astype(np.uint8)
    root = Path(root)
    out: dict[str, list[tuple[Path, int]]] = {"train": [], "val": []}
    seen = dict.fromkeys(range(10), 0)
    for index, (image, label) in enumerate(zip(images, digits.target.tolist(), strict=True)):
        rank = seen[label]
        seen[label] += 1
        if max_per_class is not None and rank >= max_per_class:
            continue
        split = "val" if rank % VAL_EVERY == 0 else "train"
        path = root / split / str(label) / f"{index:04d}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="L").save(path)
        out[split].append((path, label))
    return out
