"""Options that several commands share, declared once so that they read and behave the same everywhere.

The values are checked by the library (:func:`hubkit.publish.options.validate`,
:func:`hubkit.verify.device.check_device_spec`) before any remote call, so that the error names the option
and says what to do, whether hubkit runs from the command line or from Python.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

endpoint_option = click.option(
    "--endpoint",
    default=None,
    metavar="URL",
    help="Hub URL (default: HF_ENDPOINT; none and no token: the embedded local hub).",
)
token_option = click.option(
    "--token", default=None, metavar="T", help="Hub token (default: HF_TOKEN, then the stored login)."
)
device_option = click.option(
    "--device",
    default=None,
    metavar="DEV",
    help="Verification device: auto, cpu, cuda or cuda:N [default: auto: CUDA when there is one].",
)
template_dir_option = click.option(
    "--template-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Card template overrides (a folder of *.j2 files that replace the shipped ones of the same name).",
)


def json_option(what: str) -> Callable[[F], F]:
    """``--json``: print ``what`` as JSON on stdout, nothing else (the parameter is named ``as_json``).

    Example:
        >>> @json_option("the report")
        ... @click.command()
        ... def cmd(as_json: bool) -> None: ...
    """
    return click.option(
        "--json", "as_json", is_flag=True, help=f"Print {what} as JSON on stdout, nothing else."
    )
