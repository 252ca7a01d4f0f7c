"""Tenants' routing as ops change it: versions in the store, the admin document, audit, seeding.

- Every change is a new immutable version (number, author = the admin key's name, time, reason),
  appended by compare-and-set so two concurrent edits cannot both win (the loser gets 412).
  A rollback is a new version carrying an old version's routing.
- New claims take the tenant's *current* version from the store; the claim records the version
  and rule that chose its agency, and is pinned to that agency for life (writes.follow_up, reads).
- The config file seeds the store (author "config"). Each version carries the hash of the file's
  routing for the tenant at the time it was made; API changes carry it forward. At start, a file
  whose hash differs from the current version's has changed since, and becomes a new version;
  an equal hash means the store's version wins (docs/routing.md).
- Credentials are not versioned: they come from the config file only (secrets by reference), and
  the document shows the references, never a secret.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from adapters.base import AdapterSpec
from canonical import ClaimCreate, FieldError, Page, open_cursor, seal_cursor
from canonical.problems import NotFound, PreconditionFailed, PreconditionRequired, ValidationFailed
from gateway.auth import Principal
from gateway.services.routing import choose, routing_errors, routing_hash, rule_view
from gateway.settings import ConfigError, RoutingRule, Settings
from gateway.stores import AuditEntry, RoutingVersion, Store, new_id, utcnow

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = [
    "RoutingHistoryEntry",
    "RoutingPreview",
    "RoutingRollback",
    "Rule",
    "RuleWhen",
    "TenantDocument",
    "TenantList",
    "TenantService",
    "TenantUpdate",
    "credential_refs",
    "current_routing",
    "seed_tenants",
]

log = logging.getLogger(__name__)

CONFIG_AUTHOR = "config"
#: Credential fields whose name says secret are hidden unless they are a reference (`*_env`, `*_file`).
_SECRET_WORDS = ("secret", "token", "password", "passwd", "key")


# the admin API's shapes (api.md "Admin tenant document")
class RuleWhen(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Conditions of a rule; all that are set must hold. Amounts: the claim total in minor units."""

    currency: list[str] | None = None
    country: list[str] | None = None
    type: list[str] | None = None
    amount_min: int | None = None
    amount_max: int | None = None


class Rule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    when: RuleWhen
    agency: str


class TenantDocument(msgspec.Struct, kw_only=True):
    tenant: str
    version: int
    default_agency: str
    rules: list[Rule]
    #: Per agency: the config section with secret *references* only (`client_secret_env`, ...).
    credentials: dict[str, dict[str, Any]]


class TenantList(msgspec.Struct, kw_only=True):
    data: list[TenantDocument]
    has_more: bool = False
    next_cursor: str | None = None


class TenantUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The tenant document without `version` (If-Match carries it), plus why it changes."""

    default_agency: str
    rules: list[Rule] = []
    reason: str
    #: Optional; must name the tenant of the path.
    tenant: str | None = None
    #: Tolerated so a client may send back what it read; If-Match decides.
    version: int | None = None
    #: Optional; credentials change in the config file only, so it must equal the current references.
    credentials: dict[str, dict[str, Any]] | None = None


class RoutingRollback(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    reason: str


class RoutingHistoryEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    version: int
    changed_by: str
    changed_at: dt.datetime
    reason: str
    default_agency: str
    rules: list[Rule]
    rollback_of: int | None = None


class RoutingPreview(msgspec.Struct, kw_only=True):
    agency: str
    #: Index of the rule that chose the agency; null = the default agency.
    rule: int | None
    version: int


def _rules_out(rules: Sequence[RoutingRule]) -> list[Rule]:
    return [msgspec.convert(rule_view(r), Rule) for r in rules]


def _rules_in(rules: Sequence[Rule]) -> list[RoutingRule]:
    return [msgspec.convert(msgspec.to_builtins(r), RoutingRule) for r in rules]


def _history_entry(version: RoutingVersion) -> RoutingHistoryEntry:
    return RoutingHistoryEntry(
        version=version.version,
        changed_by=version.changed_by,
        changed_at=version.changed_at,
        reason=version.reason,
        default_agency=version.default_agency,
        rules=_rules_out(version.rules),
        rollback_of=version.rollback_of,
    )


def credential_refs(section: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in section.items()
        if name.endswith(("_env", "_file")) or not any(word in name.lower() for word in _SECRET_WORDS)
    }


def _check_if_match(header: str | None, current: int) -> None:
    """If-Match (RFC 9110 13.1.1) against the current version, whose ETag is `"N"`."""
    if header is None or not header.strip():
        raise PreconditionRequired(
            f'changing a tenant needs If-Match with the version you read (now: If-Match: "{current}")'
        )
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags or any(tag.strip('"') == str(current) and not tag.startswith("W/") for tag in tags):
        return
    raise PreconditionFailed(
        f"the tenant's routing is at version {current}, not {header.strip()}: read it again and retry"
    )


def _config_key(tenant: str, pointer: str) -> str:
    """/rules/2/agency → tenants.acme.routing.rules[2].agency (config.md names keys this way)."""
    parts = pointer.strip("/").split("/")
    key = f"tenants.{tenant}"
    if parts[0] == "rules":
        key += ".routing.rules"
        parts = parts[1:]
    for part in parts:
        key += f"[{part}]" if part.isdigit() else f".{part}"
    return key


async def seed_tenant(
    settings: Settings, specs: Mapping[str, AdapterSpec], store: Store, tenant: str
) -> RoutingVersion:
    """Make the store's current version agree with the config file (see the module docstring)."""
    section = settings.tenants[tenant]
    file_rules = list(section.routing.rules)
    file_hash = routing_hash(section.default_agency, file_rules)
    for _ in range(20):  # each miss means another replica appended meanwhile: read again
        current = await store.routing_version(tenant)
        if current is not None and current.config_hash == file_hash:
            errors = routing_errors(tenant, current.default_agency, current.rules, settings, specs)
            if errors:
                first = errors[0]
                raise ConfigError(
                    f"{_config_key(tenant, first.pointer)}: routing version {current.version} "
                    f"(by {current.changed_by}) is in force but {first.detail}; "
                    "add the credentials or change the routing in the file"
                )
            return current
        errors = routing_errors(tenant, section.default_agency, file_rules, settings, specs)
        if errors:
            first = errors[0]
            raise ConfigError(f"{_config_key(tenant, first.pointer)}: {first.detail}")
        number = 1 if current is None else current.version + 1
        reason = "seeded from the config file" if current is None else "the config file's routing changed"
        version = RoutingVersion(
            tenant=tenant,
            version=number,
            default_agency=section.default_agency,
            rules=file_rules,
            changed_by=CONFIG_AUTHOR,
            changed_at=utcnow(),
            reason=reason,
            config_hash=file_hash,
        )
        audit = _audit(
            CONFIG_AUTHOR, "routing.seeded" if current is None else "routing.changed", version, current
        )
        if await store.append_routing_version(version, audit):
            if current is not None:
                log.info("tenant %s: the config file's routing changed; it is version %d", tenant, number)
            return version
    raise RuntimeError(f"tenant {tenant}: could not settle the routing version against concurrent writers")


async def seed_tenants(settings: Settings, specs: Mapping[str, AdapterSpec], store: Store) -> None:
    for tenant in settings.tenants:
        await seed_tenant(settings, specs, store, tenant)


async def current_routing(runtime: Runtime, tenant: str) -> RoutingVersion:
    """The tenant's routing in force now (seeded on first use if the store was down at start)."""
    if tenant not in runtime.settings.tenants:
        raise NotFound(f"no tenant {tenant!r}")
    version = await runtime.store.routing_version(tenant)
    if version is None:
        version = await seed_tenant(runtime.settings, runtime.specs, runtime.store, tenant)
    return version


def _audit(
    actor: str,
    action: str,
    version: RoutingVersion,
    previous: RoutingVersion | None,
    key_id: str | None = None,
) -> AuditEntry:
    detail: dict[str, Any] = {
        "version": version.version,
        "previous_version": previous.version if previous else None,
        "reason": version.reason,
        "default_agency": version.default_agency,
        "rules": [rule_view(r) for r in version.rules],
    }
    if previous is not None:
        detail["previous_default_agency"] = previous.default_agency
    if version.rollback_of is not None:
        detail["rollback_of"] = version.rollback_of
    if key_id is not None:
        detail["key_id"] = key_id
    return AuditEntry(
        id=new_id("aud"),
        at=version.changed_at,
        actor=actor,
        action=action,
        tenant=version.tenant,
        detail=detail,
    )


class TenantService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.store = runtime.store

    def document(self, version: RoutingVersion) -> TenantDocument:
        section = self.settings.tenants[version.tenant]
        return TenantDocument(
            tenant=version.tenant,
            version=version.version,
            default_agency=version.default_agency,
            rules=_rules_out(version.rules),
            credentials={agency: credential_refs(s) for agency, s in section.credentials.items()},
        )

    async def current(self, tenant: str) -> RoutingVersion:
        return await current_routing(self.runtime, tenant)

    async def list_tenants(self) -> TenantList:
        return TenantList(data=[self.document(await self.current(t)) for t in sorted(self.settings.tenants)])

    async def update(
        self, tenant: str, body: TenantUpdate, if_match: str | None, principal: Principal
    ) -> TenantDocument:
        current = await self.current(tenant)
        _check_if_match(if_match, current.version)
        errors: list[FieldError] = []
        if body.tenant is not None and body.tenant != tenant:
            errors.append(FieldError(pointer="/tenant", detail=f"the path names tenant {tenant!r}"))
        if body.credentials is not None and body.credentials != self.document(current).credentials:
            errors.append(
                FieldError(
                    pointer="/credentials",
                    detail="credentials are set in the config file (secrets by reference); change them there",
                )
            )
        rules = _rules_in(body.rules)
        return await self._append(
            current,
            body.default_agency,
            rules,
            body.reason,
            principal,
            action="routing.changed",
            errors=errors,
        )

    async def rollback(
        self, tenant: str, body: RoutingRollback, if_match: str | None, principal: Principal
    ) -> TenantDocument:
        current = await self.current(tenant)
        if if_match is not None:  # optional here: a rollback names its target version already
            _check_if_match(if_match, current.version)
        target = await self.store.routing_version(tenant, body.version)
        if target is None:
            raise ValidationFailed(
                [
                    FieldError(
                        pointer="/version", detail=f"tenant {tenant!r} has no routing version {body.version}"
                    )
                ]
            )
        return await self._append(
            current,
            target.default_agency,
            target.rules,
            body.reason,
            principal,
            action="routing.rolled_back",
            rollback_of=target.version,
        )

    async def _append(
        self,
        current: RoutingVersion,
        default_agency: str,
        rules: list[RoutingRule],
        reason: str,
        principal: Principal,
        *,
        action: str,
        rollback_of: int | None = None,
        errors: list[FieldError] | None = None,
    ) -> TenantDocument:
        errors = list(errors or [])
        if not reason.strip():
            errors.append(FieldError(pointer="/reason", detail="say why the routing changes"))
        errors += routing_errors(current.tenant, default_agency, rules, self.settings, self.runtime.specs)
        if errors:
            raise ValidationFailed(errors)
        version = RoutingVersion(
            tenant=current.tenant,
            version=current.version + 1,
            default_agency=default_agency,
            rules=rules,
            changed_by=principal.name,
            changed_at=utcnow(),
            reason=reason.strip(),
            # The file has not changed: the store's version wins until it does.
            config_hash=current.config_hash,
            rollback_of=rollback_of,
        )
        audit = _audit(principal.name, action, version, current, principal.key_id)
        if not await self.store.append_routing_version(version, audit):
            raise PreconditionFailed(
                f"the tenant's routing changed while this request ran (it was at {current.version}): "
                "read it again and retry"
            )
        return self.document(version)

    async def history(self, tenant: str, cursor: str | None, limit: int) -> Page[RoutingHistoryEntry]:
        await self.current(tenant)
        scope = f"routing-history|{tenant}"
        after = None if cursor is None else open_cursor(cursor, scope, self.runtime.cursor_key)
        versions, position = await self.store.routing_history(tenant, after, limit)
        return Page(
            data=[_history_entry(v) for v in versions],
            has_more=position is not None,
            next_cursor=None if position is None else seal_cursor(position, scope, self.runtime.cursor_key),
        )

    async def version(self, tenant: str, number: int) -> RoutingHistoryEntry:
        """One version of the tenant's routing (the console's diff reads two)."""
        await self.current(tenant)
        version = await self.store.routing_version(tenant, number)
        if version is None:
            raise NotFound(f"tenant {tenant!r} has no routing version {number}")
        return _history_entry(version)

    async def preview(self, tenant: str, claim: ClaimCreate) -> RoutingPreview:
        current = await self.current(tenant)
        agency, rule = choose(current.default_agency, current.rules, claim)
        return RoutingPreview(agency=agency, rule=rule, version=current.version)

    async def audit(self, cursor: str | None, limit: int, *, newest_first: bool = False) -> Page[AuditEntry]:
        scope = "audit-newest-first" if newest_first else "audit"
        after = None if cursor is None else open_cursor(cursor, scope, self.runtime.cursor_key)
        entries, position = await self.store.list_audit(after, limit, newest_first=newest_first)
        return Page(
            data=entries,
            has_more=position is not None,
            next_cursor=None if position is None else seal_cursor(position, scope, self.runtime.cursor_key),
        )
