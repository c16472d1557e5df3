"""Run the ``hubkit`` entry point in-process, with its error mapping, as the tests of several modules do."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

from hubkit.cli import main


def hubkit(*argv: str) -> tuple[int, str, str]:
    """Run ``hubkit ARGV`` in this process; return exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:  # None is success; a message instead of a number is failure
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    return code, out.getvalue(), err.getvalue()
