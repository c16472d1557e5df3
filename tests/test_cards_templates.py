"""Templates: StrictUndefined, user overrides through --template-dir, clear errors, no partial files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubkit.cards import context_from_tag, render_card, write_card
from hubkit.cards.context import CardContext
from hubkit.cards.render import cell, fixed, join_and, metric_value, thousands
from hubkit.cli import main
from hubkit.errors import TemplateError

TAG = "test_resnet.r160_in1k"  # a tiny timm model: fast to build on the meta device


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> CardContext:
    # module scope runs before conftest's per-test isolation: keep the stats cache out of the user's home
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cards-cache")))
        return context_from_tag(TAG)


def _user_dir(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "tpl" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return tmp_path / "tpl"


def test_undefined_value_names_template_and_line(tmp_path: Path, context: CardContext) -> None:
    user = _user_dir(tmp_path, "partials/license.md.j2", "## License\n\nline two\n{{ ctx.no_such_field }}\n")
    with pytest.raises(TemplateError) as info:
        render_card(context, template_dir=user)
    message = str(info.value)
    assert f"{user / 'partials' / 'license.md.j2'}:4:" in message
    assert "no_such_field" in message
    assert "hint:" in message


def test_undefined_name_in_top_template(tmp_path: Path, context: CardContext) -> None:
    user = _user_dir(tmp_path, "model_card.md.j2", "# {{ ctx.title }}\n\n{{ missing_name }}\n")
    with pytest.raises(TemplateError, match=r"model_card\.md\.j2:3: undefined value.*missing_name"):
        render_card(context, template_dir=user)


def test_syntax_error_names_template_and_line(tmp_path: Path, context: CardContext) -> None:
    user = _user_dir(tmp_path, "partials/details.md.j2", "## Details\n\n{% if ctx.stats %}\nno endif\n")
    with pytest.raises(TemplateError, match=r"details\.md\.j2:\d+: template syntax error"):
        render_card(context, template_dir=user)


def test_missing_template_dir_and_template(tmp_path: Path, context: CardContext) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        render_card(context, template_dir=tmp_path / "nope")
    with pytest.raises(TemplateError, match="not found"):
        render_card(context, template="no_such.md.j2")


def test_user_partial_overrides_shipped_one(tmp_path: Path, context: CardContext) -> None:
    user = _user_dir(tmp_path, "partials/license.md.j2", "## License\n\nAsk {{ ctx.title }}'s owners.\n")
    text = render_card(context, template_dir=user)
    assert f"Ask {context.title}'s owners." in text
    assert "## Model details" in text  # the other partials still come from hubkit


def test_failed_render_writes_nothing_and_keeps_old_file(tmp_path: Path, context: CardContext) -> None:
    user = _user_dir(tmp_path, "partials/usage.md.j2", "{{ ctx.nope }}\n")
    fresh = tmp_path / "out" / "README.md"
    with pytest.raises(TemplateError):
        write_card(context, fresh, template_dir=user)
    assert not fresh.exists()
    old = tmp_path / "README.md"
    old.write_text("old card\n")
    with pytest.raises(TemplateError):
        write_card(context, old, template_dir=user)
    assert old.read_text() == "old card\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "tpl"]  # no out/ dir, no temp files


def test_write_card_writes_atomically_with_readable_mode(tmp_path: Path, context: CardContext) -> None:
    path = write_card(context, tmp_path / "README.md")
    assert path.read_text(encoding="utf-8") == render_card(context)
    assert path.stat().st_mode & 0o644 == 0o644


def test_cli_template_error_exits_5_without_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = _user_dir(tmp_path, "partials/training.md.j2", "ok\n{{ ctx.missing }}\n")
    out = tmp_path / "README.md"
    with pytest.raises(SystemExit) as info:
        main(["card", TAG, "-o", str(out), "--template-dir", str(user), "--no-stats"])
    assert info.value.code == 5
    err = capsys.readouterr().err
    assert f"{user / 'partials' / 'training.md.j2'}:2:" in err and "missing" in err
    assert not out.exists()


def test_cli_bad_repo_id_and_revision(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--repo-id", "no-owner"], ["--repo-id", "a/b/c"], ["--revision", "bad..rev"]):
        with pytest.raises(SystemExit) as info:
            main(["card", TAG, "--no-stats", *args])
        assert info.value.code == 2, args
    assert "hint:" in capsys.readouterr().err


def test_cli_writes_prints_and_dumps_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    out = tmp_path / "README.md"
    main(["card", TAG, "-o", str(out), "--repo-id", "org/tiny", "--revision", "epoch-3"])
    text = out.read_text(encoding="utf-8")
    assert 'timm.create_model("hf-hub:org/tiny@epoch-3", pretrained=True)' in text
    capsys.readouterr()
    main(["card", TAG, "--json", "--no-stats"])
    data = json.loads(capsys.readouterr().out)
    assert data["architecture"] == "test_resnet" and data["library"] == "timm" and data["stats"] is None
    main(["card", TAG])
    assert capsys.readouterr().out.startswith("---\n")


def test_filters() -> None:
    assert fixed(25.557032) == "25.6" and fixed(4.1114, 2) == "4.11"
    assert thousands(34_000_000_000) == "34,000,000,000"
    assert join_and(["a", "b", "c"]) == "a, b and c" and join_and(["a"]) == "a" and join_and([]) == ""
    assert cell("a|b\nc") == "a\\|b c"
    assert metric_value(76.540) == "76.54" and metric_value(80.0) == "80"
