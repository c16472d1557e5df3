"""``python -m hubkit.hub [--host H] [--port N] [--data DIR] [--token T] [--faults SPEC]``: same as
``hubkit hub serve`` (used by :class:`hubkit.hub.LocalHubProcess`)."""

import sys

from hubkit.cli import main

if __name__ == "__main__":
    main(["hub", "serve", *sys.argv[1:]])
