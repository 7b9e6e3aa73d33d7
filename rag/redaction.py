"""Secrets kept out of what a user or a log sees: API keys, `Bearer` tokens, URL passwords.

A server or a proxy may echo the request back in an error (`Authorization: Bearer
sk-...`); whatever text comes from outside passes through `redact` once, at the
boundary where it enters our messages, and not in each error branch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# "Bearer sk-abc", "bearer: abc" (the token ends at white space, a quote or a separator).
_BEARER = re.compile(r"(\bBearer\b[\s:=]+)[^\s\"'`,;<>\\]+", re.IGNORECASE)
# "https://user:secret@host" keeps the user name, not the password.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets`, any `Bearer` token and any URL password masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + ":" + MASK + "@", text)


# The last white space of a text, unless it follows "Bearer" (its token comes next).
_SAFE_POINT = re.compile(r"(?s).*(?<!\bBearer)(?<!\bBearer:)\s", re.IGNORECASE)


def split_at_safe_point(text: str) -> tuple[str, str]:
    """`text` cut after its last white space, where no key or token can be cut in two.

    For streamed text: show the first part now (redacted), keep the second for the next piece.
    """
    match = _SAFE_POINT.match(text)
    return (text[: match.end()], text[match.end() :]) if match else ("", text)
