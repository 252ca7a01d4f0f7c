"""The composition root: settings, store, adapters and their upstream clients, built once.

`Runtime.start()` opens everything (in the app's lifespan or the standalone worker) and
`Runtime.stop()` closes it. Nothing here is module-level: tests build as many as they like.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from adapters._upstream import UpstreamClient
from adapters.base import Adapter, AdapterContext, AdapterSpec, Credential
from adapters.registry import discover
from canonical.problems import NotFound, UnsupportedByAgency
from gateway.sealed import SealedSharedState
from gateway.services.tenants import seed_tenants
from gateway.settings import ConfigError, Settings
from gateway.stores import ApiKeyRecord, Store, create_store, utcnow

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        specs: Mapping[str, AdapterSpec] | None = None,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        tracer_provider: Any = None,
    ) -> None:
        self.settings = settings
        #: OpenTelemetry TracerProvider, or None: traces off (gateway/tracing.py).
        self.tracer_provider = tracer_provider
        self.store: Store = store or create_store(
            settings.store_url,
            settings.store_prefix,
            events_max=settings.events_max_per_tenant,
            audit_max=settings.audit_max_entries,
        )
        self.specs: dict[str, AdapterSpec] = dict(specs) if specs is not None else discover()
        self._transports = dict(transports or {})
        self.adapters: dict[str, Adapter] = {}
        self._clients: list[UpstreamClient] = []
        self.cursor_key = b""
        #: Called as `eraser(tenant, claim_id)` after a claim's personal data is erased
        #: (gateway.services.privacy): a part that keeps its own per-claim copies registers here.
        self.personal_data_erasers: list[Callable[[str, str], Awaitable[None]]] = []
        self.personal_data_erasers.append(self._erase_quarantined)
        self.started = False

    async def _erase_quarantined(self, tenant: str, claim_id: str) -> None:
        """Agency records quarantined for the claim may quote the debtor: their raw text goes."""
        claim = await self.store.get_claim(claim_id)
        if claim is not None and claim.agency_reference:
            await self.store.erase_quarantined(tenant, claim.agency, claim.agency_reference)

    async def start(self) -> None:
        if self.started:
            return
        token_state = self._token_state() if self.settings.agencies else self.store.shared
        for name, agency in self.settings.agencies.items():
            spec = self.specs[name]
            per_minute = agency.rate_limit_per_minute or spec.rate_limit_per_minute
            per_day = agency.rate_limit_per_day or spec.rate_limit_per_day
            # A tenth of the minute's calls may go back to back (an idle credential answers a few
            # reads at once); the rest is paced so that no 60 s window sees more than the limit.
            limits: list[tuple[int, float, int] | tuple[int, float]] = []
            if per_minute:
                limits.append((per_minute, 60.0, max(1, per_minute // 10)))
            if per_day:
                limits.append((per_day, 86400.0))
            client = UpstreamClient(
                name,
                agency.base_url,
                transport=self._transports.get(name),
                timeout=agency.timeout_seconds,
                shared=token_state,
                rate_limits=limits,
                sync_share=agency.sync_budget_share,
                tracer_provider=self.tracer_provider,
            )
            self._clients.append(client)
            config: dict[str, Any] = {
                **agency.options,
                **{k: v for k, v in _fields(agency).items() if v is not None},
            }
            adapter = spec.create(
                AdapterContext(agency=name, config=config, http=client, checkpoints=self.store.shared)
            )
            self.adapters[name] = await adapter if inspect.isawaitable(adapter) else adapter
        try:
            self.cursor_key = await self.store.cursor_key()
            await self._seed_keys()
            await self._seed_tenants()
        except ConfigError:  # the store's routing names an agency the file no longer allows
            raise
        except Exception:
            log.warning("store not reachable at start; keys will be seeded when it is", exc_info=True)
        self.started = True

    def _token_state(self) -> Any:
        """Where upstream clients cache tokens: sealed with the token key when one is set."""
        if self.settings.token_key:
            return SealedSharedState(self.store.shared, self.settings.token_key)
        if not self.settings.store_url.startswith("memory://"):
            log.warning(
                "token_key_env is not set: agency OAuth tokens are stored in clear (docs/operations.md)"
            )
        return self.store.shared

    async def ensure_ready(self) -> None:
        """Seed what start() could not (store down at start)."""
        if not self.cursor_key:
            self.cursor_key = await self.store.cursor_key()
            await self._seed_keys()
            await self._seed_tenants()

    async def _seed_tenants(self) -> None:
        """The config file's routing becomes a version unless the store's is newer (docs/routing.md)."""
        await seed_tenants(self.settings, self.specs, self.store)

    async def _seed_keys(self) -> None:
        """The file's keys are the config keys: each under a stable id made from its hash (a
        reordered file keeps every id), and a config key no longer in the file is forgotten (a
        revoked one stays listed as revoked, so putting it back in the file cannot revive it)."""
        current = set(self.settings.key_hashes)
        for record in await self.store.list_api_keys():
            gone = record.source == "config" and record.key_sha256 not in current
            if gone and record.revoked_at is None:
                await self.store.delete_api_key(record.key_sha256)
                log.info("config key %s (%s) is no longer in the file: removed", record.id, record.name)
        for index, (key, digest) in enumerate(
            zip(self.settings.api_keys, self.settings.key_hashes, strict=True)
        ):
            existing = await self.store.find_api_key(digest)
            if existing is not None and existing.revoked_at is not None:
                continue  # revoked through the admin API: a restart must not bring it back
            await self.store.put_api_key(
                ApiKeyRecord(
                    id=config_key_id(digest),
                    name=key.name or f"config key {index}",
                    tenant=key.tenant,
                    scopes=list(key.scopes),
                    key_sha256=digest,
                    source="config",
                    created_at=existing.created_at if existing is not None else utcnow(),
                )
            )

    async def stop(self) -> None:
        for adapter in self.adapters.values():
            try:
                await adapter.aclose()
            except Exception:
                log.warning("closing an adapter failed", exc_info=True)
        for client in self._clients:
            await client.aclose()
        await self.store.aclose()
        self.started = False

    def adapter(self, agency: str) -> Adapter:
        adapter = self.adapters.get(agency)
        if adapter is None:
            raise UnsupportedByAgency(agency, "any", f"agency {agency!r} is not configured on this gateway")
        return adapter

    def credential(self, tenant: str, agency: str) -> Credential:
        credential = self.settings.credential(tenant, agency)
        if credential is None:
            raise NotFound(f"tenant {tenant!r} has no credentials for {agency}")
        return credential


def config_key_id(digest: str) -> str:
    """A config key's id: stable for the key, unrelated across keys, and not its digest."""
    return "key_cfg_" + hashlib.sha256(b"collection-gateway config key\0" + digest.encode()).hexdigest()[:20]


def _fields(agency: Any) -> dict[str, Any]:
    return {name: getattr(agency, name) for name in agency.__struct_fields__ if name != "options"}
