"""Read MMEngine ``.py`` configs without running them: an AST reader of literal assignments.

An MMEngine config is Python, and ``Config.fromfile`` executes it: a config from someone else's work_dir
could run anything. hubkit parses it with :mod:`ast` and evaluates only data: literals, ``dict(...)``,
names assigned earlier in the file, ``_base_`` inheritance (with ``_delete_``), ``_base_.x`` references,
``+ - * / //`` on numbers, strings, lists and tuples. Anything else (a call, an import, a loop …) is refused
with the file and line, and nothing of the file is run. For the config dumps MMEngine writes into a
work_dir (``<work_dir>/<config>.py``, ``<timestamp>/vis_data/config.py``) and for the configs shipped in the
mmpretrain wheel this reproduces ``Config.fromfile(path).to_dict()`` (tests check it).

Example:
    >>> read_config("work_dirs/digits/digits_resnet18.py")["train_cfg"]["max_epochs"]
    5
"""

from __future__ import annotations

import ast
import operator
from pathlib import Path
from typing import Any, cast

from hubkit.errors import RunFileError

_BINOPS: dict[type[ast.operator], Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
# Pure functions of data that shipped configs apply to values ([round(x) for x in bgr_mean]).
_PURE: dict[str, Any] = {
    "round": round, "int": int, "float": float, "abs": abs, "min": min, "max": max, "len": len,
    "tuple": tuple, "list": list, "str": str, "bool": bool, "sum": sum,
}  # fmt: skip
_HINT = (
    "hubkit reads configs without executing them and understands literal assignments only; "
    "pass the config dump MMEngine wrote into the work_dir (<work_dir>/<config>.py)"
)
_MAX_DEPTH = 16  # _base_ chains deeper than this are a loop


class _Refused(Exception):
    def __init__(self, node: ast.AST, what: str) -> None:
        super().__init__(what)
        self.line = getattr(node, "lineno", 0)


class _Base:
    """The value of ``_base_`` in expressions: attribute access reads the merged base config."""

    def __init__(self, merged: dict[str, Any]) -> None:
        self.merged = merged


def _eval(node: ast.AST, scope: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_eval(e, scope) for e in node.elts)
    if isinstance(node, ast.List):
        return [_eval(e, scope) for e in node.elts]
    if isinstance(node, ast.Set):
        inner = node.elts[0] if len(node.elts) == 1 else None
        if isinstance(inner, ast.Set) and len(inner.elts) == 1:  # MMEngine's "{{_base_.x}}" reference
            return _eval(inner.elts[0], scope)
        try:
            return {_eval(e, scope) for e in node.elts}
        except TypeError:
            raise _Refused(node, "a set of unhashable values") from None
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:  # {**other}
                out.update(_eval(value, scope))
            else:
                out[_eval(key, scope)] = _eval(value, scope)
        return out
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        result: dict[Any, Any] = {}
        for arg in node.args:
            result.update(_eval(arg, scope))
        for kw in node.keywords:
            if kw.arg is None:
                result.update(_eval(kw.value, scope))
            else:
                result[kw.arg] = _eval(kw.value, scope)
        return result
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _PURE:
        if node.keywords:
            raise _Refused(node, f"{node.func.id}() with keyword arguments")
        args = [_eval(a, scope) for a in node.args]
        if not all(isinstance(a, int | float | str | bool | list | tuple) or a is None for a in args):
            raise _Refused(node, f"{node.func.id}() of something other than plain data")
        try:
            return _PURE[node.func.id](*args)
        except (TypeError, ValueError):
            raise _Refused(node, f"{node.func.id}() of these values fails") from None
    if isinstance(node, ast.ListComp | ast.GeneratorExp) and len(node.generators) == 1:
        gen = node.generators[0]
        if gen.ifs or gen.is_async or not isinstance(gen.target, ast.Name):
            raise _Refused(node, "a comprehension other than [f(x) for x in values]")
        items = _eval(gen.iter, scope)
        if not isinstance(items, list | tuple):
            raise _Refused(node, "a comprehension over something other than a list or tuple")
        values = [_eval(node.elt, {**scope, gen.target.id: item}) for item in items]
        return values if isinstance(node, ast.ListComp) else tuple(values)
    if isinstance(node, ast.JoinedStr):  # f"{data_root}/train"
        out_text = []
        for piece in node.values:
            if isinstance(piece, ast.FormattedValue):
                if piece.conversion != -1 or piece.format_spec is not None:
                    raise _Refused(node, "an f-string with a conversion or format spec")
                value = _eval(piece.value, scope)
                if not isinstance(value, int | float | str):
                    raise _Refused(node, "an f-string of something other than a number or string")
                out_text.append(str(value))
            else:
                out_text.append(str(_eval(piece, scope)))
        return "".join(out_text)
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise _Refused(node, f"the name {node.id!r} is not assigned earlier in the config")
    if isinstance(node, ast.Attribute):
        owner = _eval(node.value, scope)
        if isinstance(owner, _Base):
            if node.attr not in owner.merged:
                raise _Refused(node, f"_base_ has no {node.attr!r}")
            return owner.merged[node.attr]
        if isinstance(owner, dict) and node.attr in owner:
            return owner[node.attr]
        raise _Refused(node, f"attribute access .{node.attr} is code")
    if isinstance(node, ast.Subscript):
        owner = _eval(node.value, scope)
        if isinstance(owner, _Base):  # _base_['train_pipeline']
            owner = owner.merged
        key = _eval(node.slice, scope)
        try:
            return owner[key]
        except (KeyError, IndexError, TypeError):
            raise _Refused(node, "a subscript that does not resolve") from None
    if isinstance(node, ast.Slice):  # data_preprocessor['mean'][::-1]
        parts = [None if n is None else _eval(n, scope) for n in (node.lower, node.upper, node.step)]
        if not all(p is None or isinstance(p, int) for p in parts):
            raise _Refused(node, "a slice with non-integer bounds")
        return slice(*parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval(node.operand, scope)
        if not isinstance(value, int | float):
            raise _Refused(node, "a sign applied to a non-number")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left, scope), _eval(node.right, scope)
        if not (
            (isinstance(left, int | float) and isinstance(right, int | float))
            or (
                type(left) is type(right)
                and isinstance(left, str | list | tuple)
                and isinstance(node.op, ast.Add)
            )
        ):
            raise _Refused(node, "arithmetic on something other than numbers, strings, lists or tuples")
        return _BINOPS[type(node.op)](left, right)
    raise _Refused(node, f"{type(node).__name__} is code, not data")


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """MMEngine's merge: dicts merge key by key unless the child says ``_delete_=True``."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and value.get("_delete_"):
            out[key] = {k: v for k, v in value.items() if k != "_delete_"}
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _strip_delete(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_delete(v) for k, v in value.items() if k != "_delete_"}
    if isinstance(value, list):
        return [_strip_delete(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_strip_delete(v) for v in value)
    return value


def _read(path: Path, depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise RunFileError(f"{path}: _base_ inheritance deeper than {_MAX_DEPTH} (a loop?)", hint=_HINT)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except OSError as exc:
        raise RunFileError(f"cannot read config {path}: {exc.strerror or exc}", hint=_HINT) from None
    except SyntaxError as exc:
        raise RunFileError(
            f"config {path} is not valid Python (line {exc.lineno}): {exc.msg}", hint=_HINT
        ) from None
    scope: dict[str, Any] = {}
    merged_base: dict[str, Any] = {}
    try:
        for stmt in tree.body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # a docstring
            if not isinstance(stmt, ast.Assign):
                raise _Refused(stmt, f"a {type(stmt).__name__} statement is code, not data")
            if (
                len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == "_base_"
            ):
                bases = _eval(stmt.value, scope)
                for rel in [bases] if isinstance(bases, str) else list(bases):
                    merged_base = _merge(merged_base, _read((path.parent / rel).resolve(), depth + 1))
                scope = dict(merged_base)
                scope["_base_"] = _Base(merged_base)
                continue
            value = _eval(stmt.value, scope)
            for target in stmt.targets:
                _assign(target, value, scope)
    except _Refused as refused:
        raise RunFileError(
            f"config {path} line {refused.line}: {refused}; hubkit does not execute configs", hint=_HINT
        ) from None
    own = {k: v for k, v in scope.items() if not isinstance(v, _Base)}
    return _merge(
        merged_base, {k: v for k, v in own.items() if k not in merged_base or v is not merged_base[k]}
    )


def _assign(target: ast.AST, value: Any, scope: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        scope[target.id] = value
    elif isinstance(target, ast.Subscript | ast.Attribute):
        owner = _eval(target.value, scope)
        if isinstance(owner, _Base):
            owner = owner.merged
        if not isinstance(owner, dict | list):
            raise _Refused(target, "assignment into something that is not a dict or list")
        key = _eval(target.slice, scope) if isinstance(target, ast.Subscript) else target.attr
        try:
            cast(Any, owner)[key] = value
        except (IndexError, TypeError):
            raise _Refused(target, "an assignment into a list at a bad index") from None
    else:
        raise _Refused(target, f"assignment to a {type(target).__name__}")


def read_config(path: str | Path) -> dict[str, Any]:
    """Read an MMEngine ``.py`` config as data, without executing it.

    Args:
        path: the config file (a work_dir dump or a shipped config with ``_base_``).

    Returns:
        The resolved config dict (``_base_`` merged and dropped, ``_delete_`` applied), as
        ``Config.fromfile(path).to_dict()`` gives it.

    Raises:
        RunFileError: the file is missing, not Python, or uses code (a call, an import …); nothing was run.

    Example:
        >>> read_config("work_dirs/digits/digits_resnet18.py")["model"]["backbone"]["depth"]
        18
    """
    resolved = _read(Path(path), 0)
    return {k: _strip_delete(v) for k, v in resolved.items() if not k.startswith("__") and k != "_base_"}
