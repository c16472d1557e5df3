"""Where hubkit keeps its files on this machine: one place for every folder, one rule for every caller.

``$HUBKIT_HOME`` wins when set; otherwise hubkit lives under the XDG cache (``$XDG_CACHE_HOME/hubkit``, by
default ``~/.cache/hubkit``). Below that root:

- ``hub/``: the embedded local hub's data dir;
- ``publish/``: records of past conversions and publishes (an optimisation, see :mod:`hubkit.publish.cache`);
- ``model-stats.json``: parameter / GMAC counts of architectures (see :mod:`hubkit.cards.stats`).

A dry run must leave the machine as it was: :func:`no_cache_writes` turns every cache write off for the
code running inside it (a context variable: other threads and the process environment are untouched).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_WRITES = contextvars.ContextVar("hubkit_cache_writes", default=True)


def home() -> Path:
    """hubkit's root folder: ``$HUBKIT_HOME``, else ``$XDG_CACHE_HOME/hubkit``, else ``~/.cache/hubkit``.

    Example:
        >>> os.environ["HUBKIT_HOME"] = "/srv/hubkit"; str(home())
        '/srv/hubkit'
    """
    explicit = os.environ.get("HUBKIT_HOME")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "hubkit"


def hub_data_dir() -> Path:
    """The embedded local hub's default data dir (``<home>/hub``).

    Example:
        >>> hub_data_dir().name
        'hub'
    """
    return home() / "hub"


def publish_cache_dir() -> Path:
    """Where publish and conversion records live (``<home>/publish``).

    Example:
        >>> publish_cache_dir().name
        'publish'
    """
    return home() / "publish"


def stats_cache_file() -> Path:
    """The model statistics cache (``<home>/model-stats.json``).

    Example:
        >>> stats_cache_file().name
        'model-stats.json'
    """
    return home() / "model-stats.json"


def cache_writes_enabled() -> bool:
    """False inside :func:`no_cache_writes` (a dry run): caches may be read but not written."""
    return _WRITES.get()


@contextmanager
def no_cache_writes() -> Iterator[None]:
    """Run the block without writing any cache (reads still hit it).

    Example:
        >>> with no_cache_writes():
        ...     cache_writes_enabled()
        False
    """
    token = _WRITES.set(False)
    try:
        yield
    finally:
        _WRITES.reset(token)
