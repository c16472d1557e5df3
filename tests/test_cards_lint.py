"""The Markdown linter configured for cards (``.pymarkdown.json``) and the helper other card tests use."""

from __future__ import annotations

from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / ".pymarkdown.json"


def markdown_problems(text: str) -> list[str]:
    """Lint ``text`` (a whole README with front matter) with the repo's pymarkdown config."""
    from pymarkdown.api import PyMarkdownApi

    result = PyMarkdownApi().configuration_file_path(str(CONFIG)).scan_string(text)
    problems = [
        f"line {f.line_number}: {f.rule_id} {f.rule_description}{f.extra_error_information or ''}"
        for f in result.scan_failures
    ]
    problems += [str(e) for e in (*result.pragma_errors, *result.critical_errors)]
    return problems


def test_linter_config_turns_front_matter_on_and_line_length_off() -> None:
    text = "---\nlicense: mit\n---\n\n# Title\n\n" + " ".join(["word"] * 60) + "\n"
    assert markdown_problems(text) == []


def test_linter_catches_what_it_should() -> None:
    problems = markdown_problems("---\nlicense: mit\n---\n\n# Title\n## Next\n\n\n\ntext\n")
    rules = {p.split()[2] for p in problems}
    assert {"MD022", "MD012"} <= rules
