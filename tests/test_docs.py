"""The newcomer path: the README opens with the two commands, they exist, and the docs lint clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_cards_lint import markdown_problems

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    "README.md",
    "docs/action.md",
    "docs/frameworks.md",
    "docs/local-hub.md",
    "examples/README.md",
    "templates/README.md",
]


def test_readme_opens_with_the_setup_and_test_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]
    # Nothing but the title and the tagline comes before them.
    assert text.index("```bash") < text.index("\n## ")


def test_the_commands_are_make_targets_and_ci_runs_the_test_one() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    assert "constraints.txt" in makefile
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


@pytest.mark.parametrize("doc", DOCS)
def test_docs_pass_the_markdown_linter(doc: str) -> None:
    assert markdown_problems((ROOT / doc).read_text(encoding="utf-8")) == []
