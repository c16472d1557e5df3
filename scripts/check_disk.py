"""Fail early, and say so, when a fresh setup would run out of disk half-way through the install.

The first ``make setup`` puts torch with its CUDA libraries into ``.venv`` (about 5.5 GiB, 6.5 GiB with
everything else). Without this check pip stops with ``[Errno 28] No space left on device`` after minutes.

Usage::

    python3 scripts/check_disk.py --need-gib 7 DIR
"""

from __future__ import annotations

import argparse
import shutil
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="where the virtual environment goes")
    parser.add_argument("--need-gib", type=float, required=True, help="free space the install needs")
    args = parser.parse_args(argv)
    free = shutil.disk_usage(args.path).free / 2**30
    if free >= args.need_gib:
        return 0
    print(
        f"error: setting up needs about {args.need_gib:g} GiB free for .venv (torch with its CUDA libraries),"
        f" but {args.path} has {free:.1f} GiB free.\n"
        "hint: free some disk space (old clones, /tmp) and run the command again.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
