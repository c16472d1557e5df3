"""Which decoder reads a tag: timm's ``architecture.tag`` or OpenCLIP's ``model/pretrained`` (see :func:`decode`).

Its own module so that code which must not import the whole :mod:`hubkit.tags` package (the framework
objects, which :func:`hubkit.tags.enrich` asks) can decode names.
"""

from __future__ import annotations

from hubkit.tags.model import ModelTag
from hubkit.tags.openclip_decoder import decode_openclip
from hubkit.tags.timm_decoder import _decode_valid, validate


def decode(tag: str, pretrained: str | None = None) -> ModelTag:
    """Decode a timm name (``resnet50.a1_in1k``) or an OpenCLIP pair (``ViT-B-32/laion2b_s34b_b79k``).

    Args:
        tag: a timm ``architecture.tag``, a bare architecture, or ``model/pretrained`` for OpenCLIP.
        pretrained: when given, ``tag`` is an OpenCLIP model name and this its pretrained name.

    Returns:
        The decoded :class:`ModelTag`. Unknown tokens are listed in ``unknown_tokens``, never guessed.

    Raises:
        TagError: the input is malformed (empty, too long, odd characters, empty parts).

    Example:
        >>> decode("ViT-B-32/laion2b_s34b_b79k").global_batch_size.value
        79000
    """
    if pretrained is not None:
        return decode_openclip(tag, pretrained)
    text = validate(tag)
    if "/" in text:
        model, _, name = text.partition("/")
        return decode_openclip(model, name)
    if "." not in text and ("-" in text or any(c.isupper() for c in text)):
        return decode_openclip(text, "")  # "ViT-B-32": an OpenCLIP model name on its own
    return _decode_valid(text)
