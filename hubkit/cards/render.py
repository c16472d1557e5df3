"""Render a :class:`CardContext` with Jinja templates into a complete README.md.

- Templates: ``templates/`` (installed as ``hubkit.templates``) holds ``model_card.md.j2``,
  ``checkpoint_card.md.j2`` and one partial per section in ``partials/``. A user ``template_dir`` comes
  first in a ``ChoiceLoader``, so any template or partial can be overridden by a file of the same name.
- ``StrictUndefined``: a missing value is an error naming the template and line, never an empty hole.
- Every Jinja failure becomes :class:`hubkit.errors.TemplateError` with ``file:line``; :func:`write_card`
  writes a temporary file and moves it into place only after a successful render.
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
import traceback
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from hubkit import frameworks
from hubkit.cards.context import CardContext, Sourced
from hubkit.cards.frontmatter import compose
from hubkit.errors import TemplateError
from hubkit.secrets import redact

DEFAULT_TEMPLATE = "model_card.md.j2"
CHECKPOINT_TEMPLATE = "checkpoint_card.md.j2"

# How each provenance kind reads in a card.
SOURCE_PHRASES: dict[str, str] = {
    "tag": "decoded from the tag",
    "registry": "from the installed registry",
    "run": "recorded in the run",
    "computed": "computed by hubkit",
    "verification": "measured by hubkit verify",
    "published": "published by the library",
    "publisher": "stated by the weights' publisher",
}


def shipped_template_dir() -> Path:
    """The directory of the templates shipped with hubkit (``hubkit.templates``)."""
    return Path(str(resources.files("hubkit.templates")))


# --- filters ----------------------------------------------------------------------------------------
def fixed(value: float | int, digits: int = 1) -> str:
    """``25.557 | fixed`` -> ``"25.6"``; ``4.1114 | fixed(2)`` -> ``"4.11"``."""
    return f"{float(value):.{digits}f}"


def stat(value: float | int) -> str:
    """A model statistic: one decimal from 1 up (``25.557`` -> ``"25.6"``), two significant digits below
    (``0.00415`` -> ``"0.0042"``), so that tiny models do not read as ``0.0``."""
    number = float(value)
    if number == 0 or abs(number) >= 1:
        return f"{number:.1f}"
    digits = 1 - math.floor(math.log10(abs(number)))
    return f"{number:.{digits}f}"


def thousands(value: int | float) -> str:
    """``34000000000 | thousands`` -> ``"34,000,000,000"``."""
    return f"{value:,}"


def join_and(items: Iterable[Any], last: str = "and") -> str:
    """``["a", "b", "c"] | join_and`` -> ``"a, b and c"``."""
    words = [str(i) for i in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def cell(value: Any) -> str:
    """Make a value safe inside a Markdown table cell (no pipes, no line breaks)."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def provenance(item: Sourced) -> str:
    """``"decoded from the tag, [arXiv:2110.00476](https://...)"``: where a statement comes from."""
    phrase = SOURCE_PHRASES.get(item.kind, item.kind)
    if item.source and item.source_url:
        return f"{phrase}, [{item.source}]({item.source_url})"
    if item.source:
        return f"{phrase}, {item.source}"
    return phrase


def metric_value(value: float) -> str:
    """Format a metric for tables: up to 3 decimals, no trailing zeros (``76.540`` -> ``"76.54"``)."""
    text = f"{float(value):.3f}".rstrip("0").rstrip(".")
    return text or "0"


FILTERS: dict[str, Any] = {
    "fixed": fixed,
    "stat": stat,
    "thousands": thousands,
    "join_and": join_and,
    "cell": cell,
    "provenance": provenance,
    "metric": metric_value,
}


class FrameworkTemplates(jinja2.BaseLoader):
    """Templates of frameworks that live outside hubkit (``Framework.template_dir``), found at load time.

    Searched after the user's and the shipped templates, so a framework registered after the environment
    was built still finds its usage partial.
    """

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
        for framework in frameworks.all_frameworks():
            if framework.template_dir is None:
                continue
            try:
                return jinja2.FileSystemLoader(str(framework.template_dir)).get_source(environment, template)
            except jinja2.TemplateNotFound:
                continue
        raise jinja2.TemplateNotFound(template)


def environment(template_dir: str | Path | None = None) -> jinja2.Environment:
    """The Jinja environment: user templates first, then the shipped ones; StrictUndefined.

    Args:
        template_dir: a directory whose files override shipped templates of the same name.

    Returns:
        A configured :class:`jinja2.Environment`.

    Raises:
        TemplateError: ``template_dir`` does not exist.

    Example:
        >>> environment().get_template("model_card.md.j2").name
        'model_card.md.j2'
    """
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        path = _checked_dir(template_dir)
        loaders.append(jinja2.FileSystemLoader(str(path)))
    loaders.append(jinja2.FileSystemLoader(str(shipped_template_dir())))
    loaders.append(FrameworkTemplates())
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["SOURCE_PHRASES"] = SOURCE_PHRASES
    env.globals["framework"] = frameworks.get  # framework(ctx.library).usage_partial / .display_name
    return env


def _checked_dir(template_dir: str | Path) -> Path:
    path = Path(template_dir)
    if not path.is_dir():
        raise TemplateError(
            f"template directory {path} does not exist or is not a directory",
            hint="pass --template-dir a folder holding model_card.md.j2 and/or partials/*.md.j2",
        )
    return path


@functools.lru_cache(maxsize=8)
def _shared_environment(template_dir: str | None) -> jinja2.Environment:
    # One environment per template dir keeps compiled templates between renders (a publish renders a card
    # per revision); jinja's auto_reload still recompiles a template whose file changed.
    return environment(template_dir)


def _template_location(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost template frame of a rendering traceback (Jinja rewrites frames to template lines)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        if not name.endswith(".py") and not name.startswith("<"):
            return name, frame.lineno
    return None, None


def _tidy(body: str) -> str:
    """Strip trailing spaces and collapse runs of blank lines left by skipped sections."""
    lines = [line.rstrip() for line in body.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return text + "\n"


def render_body(
    context: CardContext, *, template_dir: str | Path | None = None, template: str = DEFAULT_TEMPLATE
) -> str:
    """Render the Markdown body (no front matter) of a card.

    Raises:
        TemplateError: missing template, syntax error or undefined value, naming file and line.

    Example:
        >>> render_body(ctx).startswith("# ")
        True
    """
    if template_dir is not None:
        _checked_dir(template_dir)
    env = _shared_environment(None if template_dir is None else str(template_dir))
    try:
        text = env.get_template(template).render(ctx=context)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name}:{exc.lineno}"
        raise TemplateError(
            f"{where}: template syntax error: {exc.message}",
            hint="fix the template at that line (Jinja2 syntax: https://jinja.palletsprojects.com/)",
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(
            f"card template {exc.name!r} not found (looked in {template_dir or 'no user dir'} and "
            f"{shipped_template_dir()})",
            hint="check the template name, or copy the shipped templates/ folder and edit it",
        ) from None
    except jinja2.UndefinedError as exc:
        filename, line = _template_location(exc)
        raise TemplateError(
            f"{filename}:{line}: undefined value in card template: {exc.message}",
            hint="use only fields of CardContext (see `hubkit card TAG --json`), or guard optional ones with {% if %}",
        ) from None
    except (TypeError, ValueError, AttributeError, KeyError, jinja2.TemplateError) as exc:
        filename, line = _template_location(exc)
        raise TemplateError(
            f"{filename}:{line}: card template failed: {type(exc).__name__}: {exc}",
            hint="fix the template at that line; `hubkit card TAG --json` shows the values it receives",
        ) from None
    return _tidy(text)


def render_card(
    context: CardContext, *, template_dir: str | Path | None = None, template: str = DEFAULT_TEMPLATE
) -> str:
    """Render the full README.md text: ``ModelCardData`` front matter, then the Markdown body.

    Args:
        context: what the card says.
        template_dir: optional folder overriding shipped templates / partials.
        template: top template name; ``"checkpoint_card.md.j2"`` for intermediate-checkpoint branches.

    Returns:
        README text that ``huggingface_hub.ModelCard`` loads back with its metadata intact.

    Raises:
        TemplateError: the template cannot be rendered (message names file and line).

    Example:
        >>> render_card(context_from_tag("resnet50.a1_in1k")).startswith("---\\nlicense: apache-2.0")
        True
    """
    # A card is published text: no token may survive in it, whatever a run recorded.
    return redact(compose(context, render_body(context, template_dir=template_dir, template=template)))


def write_card(
    context: CardContext,
    path: str | Path,
    *,
    template_dir: str | Path | None = None,
    template: str = DEFAULT_TEMPLATE,
) -> Path:
    """Render a card and write it to ``path`` atomically (nothing is written if rendering fails).

    Args:
        context: what the card says.
        path: destination, usually ``README.md``.
        template_dir, template: as for :func:`render_card`.

    Returns:
        The path written.

    Raises:
        TemplateError: rendering failed; ``path`` is untouched.

    Example:
        >>> write_card(context_from_tag("resnet50.a1_in1k"), "README.md")
        PosixPath('README.md')
    """
    text = render_card(context, template_dir=template_dir, template=template)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates 0600 files: keep an existing file's mode, else the usual 0644 for a README.
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
