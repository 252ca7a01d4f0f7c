"""Agency OAuth tokens at rest: sealed with AES-256-GCM (`cryptography`) before they reach the store.

Replicas share cached tokens through the store's shared state (adapters._upstream.shared); with a
token key configured (`token_key_env`, an environment variable holding any key material, e.g.
`openssl rand -base64 32`) every cached value is sealed, bound to its cache key as associated data,
so what Redis holds is ciphertext and a value copied under another key does not open. A value that
does not open (written in clear, or under another key) reads as absent: the token is fetched anew.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters._upstream import SharedState

__all__ = ["SealedSharedState"]

_MAGIC = b"cgs1"


class SealedSharedState:
    """A SharedState whose cached values are sealed; rate limiting passes through unchanged."""

    def __init__(self, inner: SharedState, key_material: str) -> None:
        if not key_material:
            raise ValueError("an empty token key")
        self._inner = inner
        self._aead = AESGCM(hashlib.sha256(key_material.encode()).digest())

    def __repr__(self) -> str:
        return f"SealedSharedState({self._inner!r}, <key hidden>)"

    async def cache_get(self, key: str) -> bytes | None:
        raw = await self._inner.cache_get(key)
        if not raw:
            return raw
        if not raw.startswith(_MAGIC):
            return None
        try:
            return self._aead.decrypt(raw[4:16], raw[16:], key.encode())
        except InvalidTag:
            return None

    async def cache_set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        if value:
            nonce = os.urandom(12)
            value = _MAGIC + nonce + self._aead.encrypt(nonce, value, key.encode())
        await self._inner.cache_set(key, value, ttl_seconds)

    async def acquire_rate(self, key: str, limits: Sequence[tuple[int, float]]) -> float:
        return await self._inner.acquire_rate(key, limits)

    async def pause_rate(self, key: str, seconds: float) -> None:
        await self._inner.pause_rate(key, seconds)  # type: ignore[attr-defined]
