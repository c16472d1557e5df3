"""The frameworks hubkit knows: one module per framework behind one protocol (:class:`Framework`).

Lookup is by hubkit's name (:func:`get`: ``"timm"``, ``"open_clip"``), by the tag decoder's form
(:func:`by_tag_form`), by a run dir's files (:func:`detect_run`) and by a downloaded revision's files
(:func:`detect_revision`). Frameworks come from three places, in this order:

1. :data:`BUILTIN`: hubkit's own, imported on first use (importing this package stays cheap);
2. :func:`register`: a :class:`Framework` (sub)class or instance given at run time;
3. the ``hubkit.frameworks`` entry-point group: an installed package declaring
   ``[project.entry-points."hubkit.frameworks"] mmpretrain = "hubkit_mmpretrain:MMPretrainFramework"``.

How to add one: ``docs/frameworks.md``.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.errors import InputError
from hubkit.frameworks.base import Framework

if TYPE_CHECKING:
    from hubkit.runs.model import TrainingRun

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "Framework",
    "all_frameworks",
    "build_architecture",
    "by_tag_form",
    "detect_revision",
    "detect_run",
    "discover",
    "get",
    "names",
    "register",
    "unregister",
]

# name -> "module:Class" of hubkit's own frameworks, in the order detection tries them.
BUILTIN: dict[str, str] = {
    "timm": "hubkit.frameworks.timm:TimmFramework",
    "open_clip": "hubkit.frameworks.open_clip:OpenClipFramework",
    "mmpretrain": "hubkit.frameworks.mmpretrain:MMPretrainFramework",
}
ENTRY_POINT_GROUP = "hubkit.frameworks"

_loaded: dict[str, Framework] = {}  # built-in and entry-point frameworks, once imported
_registered: dict[str, Framework] = {}  # register() at run time; wins over the others of the same name
_discovered = False


def _instance(obj: object, origin: str) -> Framework:
    framework = obj() if isinstance(obj, type) else obj
    if not isinstance(framework, Framework) or not framework.name:
        raise TypeError(f"{origin} is not a hubkit.frameworks.Framework with a name: {obj!r}")
    return framework


def _load_builtins() -> None:
    for name, target in BUILTIN.items():
        if name not in _loaded:
            module, _, attr = target.partition(":")
            _loaded[name] = _instance(getattr(importlib.import_module(module), attr), target)


def discover(*, refresh: bool = False) -> tuple[str, ...]:
    """Load the frameworks installed packages declare in the ``hubkit.frameworks`` entry-point group.

    Done once, on the first lookup; ``refresh=True`` reads the entry points again (after installing a
    plugin in a running process). A plugin that fails to load is skipped with a warning.

    Returns:
        The names of the frameworks found through entry points.

    Example:
        >>> discover()  # doctest: +SKIP
        ('mmpretrain',)
    """
    global _discovered
    if _discovered and not refresh:
        return tuple(name for name in _loaded if name not in BUILTIN)
    _discovered = True
    for name in [n for n in _loaded if n not in BUILTIN]:
        del _loaded[name]
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if point.name in BUILTIN:
            continue
        try:
            _loaded[point.name] = _instance(point.load(), f"entry point {point.name} ({point.value})")
        except Exception as exc:  # a broken plugin must not break hubkit for the built-in frameworks
            warnings.warn(f"hubkit framework entry point {point.name!r} failed to load: {exc}", stacklevel=2)
    return tuple(name for name in _loaded if name not in BUILTIN)


def all_frameworks() -> tuple[Framework, ...]:
    """Every known framework: built-in first, then entry points, then those given to :func:`register`.

    Example:
        >>> [f.name for f in all_frameworks()][:2]
        ['timm', 'open_clip']
    """
    _load_builtins()
    discover()
    merged = {**_loaded, **_registered}
    return tuple(merged.values())


def names() -> tuple[str, ...]:
    """The names of every known framework.

    Example:
        >>> names()[:2]
        ('timm', 'open_clip')
    """
    return tuple(f.name for f in all_frameworks())


def register(framework: Framework | type[Framework], *, replace: bool = False) -> Framework:
    """Make a framework known for the rest of the process (its class or an instance).

    Args:
        framework: a :class:`Framework` subclass (instantiated without arguments) or instance.
        replace: allow replacing a framework of the same name (a built-in one included).

    Returns:
        The registered instance.

    Raises:
        ValueError: a framework of that name is already known and ``replace`` is False.

    Example:
        >>> register(ToyFramework).name  # doctest: +SKIP
        'toy'
    """
    instance = _instance(framework, "register()")
    if not replace and instance.name in {f.name for f in all_frameworks()}:
        raise ValueError(f"a framework named {instance.name!r} is already registered (pass replace=True)")
    _registered[instance.name] = instance
    return instance


def unregister(name: str) -> None:
    """Forget a framework given to :func:`register` (built-in and entry-point ones stay).

    Example:
        >>> unregister("toy")  # doctest: +SKIP
    """
    _registered.pop(name, None)


# A framework's first architecture() imports its library (timm, open_clip, mmpretrain) and publishing builds
# architectures from two threads (conversion and the dynamics analysis): two threads importing one package
# at once can see it half-initialised ("cannot import name ... from partially initialized module").
_BUILD_LOCK = threading.RLock()


def build_architecture(run: TrainingRun, scratch: Path) -> tuple[bytes, Any]:
    """``(config bytes, meta-device model)`` of ``run`` from its framework, one thread at a time.

    Example:
        >>> config, model = build_architecture(read_run("runs/timm-digits"), Path("/tmp/x"))  # doctest: +SKIP
    """
    framework = get(run.framework)
    with _BUILD_LOCK:
        return framework.architecture(run, scratch)


def get(name: str) -> Framework:
    """The framework called ``name`` (as in ``TrainingRun.framework`` and ``hubkit.json``).

    Raises:
        InputError: no framework has that name (the message lists the known ones).

    Example:
        >>> get("open_clip").display_name
        'OpenCLIP'
    """
    if name in _registered:
        return _registered[name]
    if name in BUILTIN:
        _load_builtins()
        return _loaded[name]
    for framework in all_frameworks():
        if framework.name == name:
            return framework
    raise InputError(
        f"unknown framework {name!r}",
        hint=f"known frameworks: {', '.join(names())}; see docs/frameworks.md to add one",
    )


def by_tag_form(form: str) -> Framework:
    """The framework whose pretrained tags the tag decoder reads in ``form`` (``"timm"``, ``"openclip"``).

    Example:
        >>> by_tag_form("openclip").name
        'open_clip'
    """
    for framework in all_frameworks():
        if framework.tag_form is not None and framework.tag_form == form:
            return framework
    raise InputError(f"no framework decodes tags of form {form!r}", hint="use a timm tag or an OpenCLIP pair")


def detect_run(path: Path) -> tuple[Framework, ...]:
    """The frameworks that recognise ``path`` as their run dir (normally one; none or two is an error).

    Example:
        >>> [f.name for f in detect_run(Path("runs/timm-digits"))]
        ['timm']
    """
    return tuple(f for f in all_frameworks() if f.is_run_dir(path))


def detect_revision(snapshot: Path) -> Framework | None:
    """The framework whose release files a downloaded revision carries (None: no known framework's).

    Example:
        >>> detect_revision(Path("snapshots/3f2a")).name  # doctest: +SKIP
        'timm'
    """
    # Two frameworks may share a config file name (timm and MMPreTrain both write config.json): the one
    # whose release asks for more files (and finds them) is the more specific match; ties keep the order.
    found = [f for f in all_frameworks() if f.is_revision(snapshot)]
    return max(found, key=lambda f: len(f.extra_files), default=None)
