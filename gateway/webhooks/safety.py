"""Which URLs the gateway may call (SSRF): https to public addresses, unless a host is named.

`webhooks.allow_http_hosts` names hosts (tests, in-cluster receivers) that may be called over plain
http *and* may resolve to private, loopback or link-local addresses. Every other endpoint must be
https and every address its host resolves to must be public (global unicast).

The check runs twice: when an endpoint is subscribed (a clear 422 naming `/url`) and on every
connection the delivery client opens — `GuardedResolver` is the aiohttp resolver of the delivery
session, so the address connected to is the address checked (no window for DNS rebinding between a
check and the connection).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

__all__ = ["GuardedResolver", "UrlRefused", "check_address", "check_url", "resolve_checked"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """The URL may not be called; the message says why (no secret in it)."""


def _host(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL: {exc}") from None
    if scheme not in ("http", "https") or not host:
        raise UrlRefused("must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise UrlRefused("must not carry credentials (user:password@)")
    return scheme, host.lower().rstrip("."), port or (443 if scheme == "https" else 80)


def check_url(url: str, allowed_hosts: Collection[str]) -> str:
    """The host of `url` if its form may be called (scheme, no credentials); UrlRefused otherwise.

    Addresses are checked separately (`resolve_checked`, and on every connection).
    """
    scheme, host, _ = _host(url)
    if scheme == "http" and host not in allowed_hosts:
        raise UrlRefused(
            f"must be https (plain http only for hosts in webhooks.allow_http_hosts; {host} is not)"
        )
    return host


def check_address(host: str, address: str, allowed_hosts: Collection[str]) -> None:
    if host in allowed_hosts:
        return
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        kind = (
            "loopback"
            if ip.is_loopback
            else "link-local"
            if ip.is_link_local
            else "private"
            if ip.is_private
            else "non-public"
        )
        raise UrlRefused(
            f"{host} resolves to {ip}, a {kind} address (allowed only for hosts in webhooks.allow_http_hosts)"
        )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve_checked(url: str, allowed_hosts: Collection[str]) -> list[str]:
    """Check `url` fully: its form, and every address its host resolves to now."""
    check_url(url, allowed_hosts)
    _, host, port = _host(url)
    if host in allowed_hosts:
        return []
    if _literal(host) is not None:
        check_address(host, host.strip("[]"), allowed_hosts)
        return [host]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UrlRefused(f"{host} does not resolve: {exc.strerror or exc}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        check_address(host, address, allowed_hosts)
    return addresses


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing hosts that resolve to a non-public address (unless named).

    aiohttp does not call a resolver for IP literals: the dispatcher checks those itself
    (`resolve_checked` before each attempt) — a literal cannot change between check and connect.
    """

    def __init__(self, allowed_hosts: Collection[str]) -> None:
        self._allowed = frozenset(allowed_hosts)
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        name = host.lower().rstrip(".")
        for result in results:
            check_address(name, result["host"], self._allowed)
        return results

    async def close(self) -> None:
        await self._inner.close()
