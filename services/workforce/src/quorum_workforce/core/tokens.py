"""Worker API tokens: shown once, stored only as a sha256 hash (a stolen table grants nothing)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "qw_"
# token_urlsafe(32) is 43 characters of base64url; the prefix lets people (and secret scanners) spot one.
_TOKEN_BODY_CHARS = 43
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_well_formed(token: str) -> bool:
    """Cheap shape check, so garbage is rejected without a database read."""
    body = token[len(TOKEN_PREFIX) :]
    return token.startswith(TOKEN_PREFIX) and len(body) == _TOKEN_BODY_CHARS and set(body) <= _ALPHABET
