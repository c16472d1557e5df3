"""Which decoder reads a tag: timm's ``architecture.tag``, OpenCLIP's ``model/pretrained`` or an MMPreTrain
model name (``resnet50_8xb32_in1k``), told apart by their shape (see :func:`decode`).

Its own module so that code which must not import the whole :mod:`hubkit.tags` package (the framework
objects, which :func:`hubkit.tags.enrich` asks) can decode names.
"""

from __future__ import annotations

from hubkit.tags.mmpretrain_decoder import decode_mmpretrain, looks_like_mmpretrain
from hubkit.tags.model import ModelTag
from hubkit.tags.openclip_decoder import decode_openclip
from hubkit.tags.timm_decoder import _decode_valid, validate


def decode(tag: str, pretrained: str | None = None) -> ModelTag:
    """Decode a timm name (``resnet50.a1_in1k``), an OpenCLIP pair (``ViT-B-32/laion2b_s34b_b79k``) or an
    MMPreTrain model / config name (``resnet50_8xb256-rsb-a1-600e_in1k``).

    Args:
        tag: a timm ``architecture.tag``, a bare architecture, ``model/pretrained`` for OpenCLIP, or an
            MMPreTrain name (lower case, ``_`` between parts: :func:`looks_like_mmpretrain`).
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
    if isinstance(tag, str) and looks_like_mmpretrain(tag.strip()):
        return decode_mmpretrain(tag)
    text = validate(tag)
    if "/" in text:
        model, _, name = text.partition("/")
        return decode_openclip(model, name)
    if "." not in text and ("-" in text or any(c.isupper() for c in text)):
        return decode_openclip(text, "")  # "ViT-B-32": an OpenCLIP model name on its own
    return _decode_valid(text)
