"""hubkit's Hub-compatible local server (the embedded default hub, a staging hub, the test backend).

``from hubkit.hub import LocalHub, LocalHubProcess, FaultSpec, default_data_dir``. Names are loaded
lazily so that importing :mod:`hubkit.hub.client` does not pull in starlette and uvicorn.
See docs/local-hub.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubkit.hub.faults import FaultSpec
    from hubkit.hub.serve import LocalHub, LocalHubProcess, default_data_dir, tamper

__all__ = ["FaultSpec", "LocalHub", "LocalHubProcess", "default_data_dir", "tamper"]

_LAZY = {
    "LocalHub": "hubkit.hub.serve",
    "LocalHubProcess": "hubkit.hub.serve",
    "default_data_dir": "hubkit.hub.serve",
    "tamper": "hubkit.hub.serve",
    "FaultSpec": "hubkit.hub.faults",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hubkit.hub' has no attribute {name!r}")
