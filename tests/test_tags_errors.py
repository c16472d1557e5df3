"""Bad input gives a clear TagError, never a crash; junk tokens are reported, never guessed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubkit.errors import TagError
from hubkit.tags import ModelTag, decode, decode_openclip
from hubkit.tags.timm_decoder import _WELL_FORMED, _explain_invalid


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("x" * 10_000, "10000 characters"),
        ("resnet50.a1\x00_in1k", "U+0000"),
        ("resnet50.a1_in1k\n", None),  # surrounding whitespace is stripped: this one is fine
        ("resnet50\x1b[31m.a1_in1k", "U+001B"),
        ("resnet50..a1_in1k", "more than one '.'"),
        ("..", "more than one '.'"),
        ("resnet50.", "empty part"),
        (".a1_in1k", "empty part"),
        ("resnet50.a1__in1k", "empty token"),
        ("resnet50.a1_in1k_", "empty token"),
        ("rеsnet50.a1_in1k", "U+0435"),  # Cyrillic 'е' look-alike
        ("resnet50.a1_іn1k", "U+0456"),  # Cyrillic 'і' look-alike
        ("ViT-B-32/", "empty part"),
        ("ViT-B-32/laion2b/x", "more than one '/'"),
        ("resnet50.a1/in1k", "mixes"),
        ("../../etc/passwd", None),
    ],
)
def test_bad_input_is_a_tag_error(bad: str, says: str | None) -> None:
    if bad == "resnet50.a1_in1k\n":
        assert decode(bad).raw == "resnet50.a1_in1k"
        return
    with pytest.raises(TagError) as err:
        decode(bad)
    assert err.value.hint
    if says:
        assert says in str(err.value)
    assert len(str(err.value)) < 400  # a 10,000-character tag is not echoed back whole


def test_non_string_is_a_tag_error() -> None:
    with pytest.raises(TagError, match="must be a string"):
        decode(None)  # type: ignore[arg-type]


def test_openclip_pretrained_validated() -> None:
    with pytest.raises(TagError):
        decode_openclip("ViT-B-32", "laion2b.s34b")
    with pytest.raises(TagError):
        decode_openclip("ViT-B-32", "laion2b s34b")


def test_junk_tokens_are_reported_not_guessed() -> None:
    tag = decode("resnet50.qqq_zzz")
    assert tag.unknown_tokens == ("qqq", "zzz")
    assert [t.role for t in tag.tokens] == ["unknown", "unknown"]
    assert tag.lineage == () and tag.recipes == () and not tag.fully_decoded
    assert tag.architecture.family.value == "ResNet"  # the known part still decodes


def test_unknown_architecture_decodes_partially() -> None:
    tag = decode("frobnet_huge_patch16_224.a1_in1k")
    assert tag.architecture.family.value == "unknown" and tag.architecture.family.source == ""
    assert tag.architecture.patch_size.value == 16 and tag.recipes[0].token == "a1"
    assert not tag.fully_decoded


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_decodes_or_raises_tag_error(text: str) -> None:
    try:
        tag = decode(text)
    except TagError as err:
        assert err.message and err.hint
    else:
        assert isinstance(tag, ModelTag)
        assert "_".join(t.token for t in tag.tokens) == tag.pretrained


@settings(max_examples=200, deadline=None)
@given(st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=8))
def test_wellformed_tags_account_for_every_token(parts: list[str]) -> None:
    tag = decode("resnet50." + "_".join(parts))
    assert "_".join(t.token for t in tag.tokens) == "_".join(parts)
    assert set(tag.unknown_tokens) <= set(parts)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab1-_./ ", max_size=12))
def test_fast_validation_accepts_exactly_what_the_explained_checks_accept(text: str) -> None:
    # validate() takes one regex for well-formed tags and the step-by-step checks for everything else;
    # both must draw the same line, or a bad tag could slip through (or a good one be refused).
    tag = text.strip()
    try:
        _explain_invalid(tag)
    except TagError:
        explained_ok = False
    else:
        explained_ok = True
    assert bool(_WELL_FORMED.fullmatch(tag)) == explained_ok
