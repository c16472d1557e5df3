"""Keep tokens out of everything hubkit prints, logs, renders or uploads.

Tokens come from ``--token``, ``HF_TOKEN`` or the stored login. Whatever text leaves hubkit (CLI output,
error messages, log records, cards, JSON reports) goes through :func:`redact` first. The registry is
process-wide because a token can surface from anywhere (an exception raised deep in a library).
"""

from __future__ import annotations

import logging
import os
import re

REDACTED = "[REDACTED]"

_known: set[str] = set()
# Hugging Face user tokens look like hf_XXXX; catch them even when they were never registered.
_HF_TOKEN_RE = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")
# Tokens also travel in URLs (?token=...) and Authorization headers.
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")
_QUERY_RE = re.compile(r"(?i)([?&]token=)[^&\s'\"]+")


def register_token(token: str | None) -> None:
    """Remember ``token`` so that :func:`redact` hides it everywhere.

    Example:
        >>> register_token("hf_secret123456"); redact("using hf_secret123456")
        'using [REDACTED]'
    """
    if token and len(token) >= 4:
        _known.add(token)


def register_env_tokens() -> None:
    """Register the tokens found in the usual environment variables."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUBKIT_HUB_TOKEN"):
        register_token(os.environ.get(name))


def redact(text: str) -> str:
    """Return ``text`` with every known token, ``hf_…`` token, bearer value and ``token=`` query hidden."""
    if not text:
        return text
    for token in sorted(_known, key=len, reverse=True):
        text = text.replace(token, REDACTED)
    text = _HF_TOKEN_RE.sub(REDACTED, text)
    text = _BEARER_RE.sub(lambda m: m.group(1) + REDACTED, text)
    return _QUERY_RE.sub(lambda m: m.group(1) + REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts tokens from every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactingFilter` to the root handlers and to hubkit's and huggingface_hub's loggers."""
    for name in ("", "hubkit", "huggingface_hub", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
