#!/usr/bin/env python3
"""Run ``open_clip_train.main`` with one extra model config registered.

    python examples/openclip_digits/launch.py MODEL_CONFIG.json [open_clip_train arguments...]

open_clip_train only knows the configs in OpenCLIP's registry; ``open_clip.add_model_config`` adds one
(registered under the file's stem), then training runs unchanged.
"""

from __future__ import annotations

import sys


def main() -> int:
    import open_clip
    from open_clip_train.main import main as train_main

    if len(sys.argv) < 2 or not sys.argv[1].endswith(".json"):
        sys.exit("usage: launch.py MODEL_CONFIG.json [open_clip_train arguments...]")
    open_clip.add_model_config(sys.argv[1])
    result = train_main(sys.argv[2:])
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
