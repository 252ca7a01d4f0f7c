"""Which agency gets a new claim: the tenant's ordered rules, first match wins, else the default.

Also what makes a routing valid for a tenant (every agency it names is configured, holds the
tenant's credentials and takes the rule's currencies and claim types), and the hash that tells
whether the config file's routing for a tenant changed since the store last took it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from adapters.base import AdapterSpec
from canonical import CLAIM_TYPES, ClaimCreate, FieldError, claim_total, is_currency
from gateway.settings import RoutingRule, RuleMatch, Settings, TenantSettings

__all__ = [
    "choose",
    "choose_agency",
    "routing_errors",
    "routing_hash",
    "rule_matches",
    "rule_view",
]

_COUNTRY = re.compile(r"^[A-Z]{2}$")


def rule_matches(when: RuleMatch, claim: ClaimCreate) -> bool:
    if when.currency is not None and claim.currency not in when.currency:
        return False
    if when.country is not None and claim.debtor.address.country not in when.country:
        return False
    if when.type is not None and claim.type not in when.type:
        return False
    total = claim_total(claim)
    if when.amount_min is not None and total < when.amount_min:
        return False
    return not (when.amount_max is not None and total > when.amount_max)


def choose(default_agency: str, rules: Sequence[RoutingRule], claim: ClaimCreate) -> tuple[str, int | None]:
    """(agency, index of the rule that chose it, or None for the default agency)."""
    for index, rule in enumerate(rules):
        if rule_matches(rule.when, claim):
            return rule.agency, index
    return default_agency, None


def choose_agency(tenant: TenantSettings, claim: ClaimCreate) -> tuple[str, int | None]:
    """Routing as the config file has it (the store's current version is what submissions use)."""
    return choose(tenant.default_agency, tenant.routing.rules, claim)


def rule_view(rule: RoutingRule) -> dict[str, Any]:
    """A rule as the config file and the admin document write it: conditions that are set only."""
    when = {k: v for k, v in msgspec.to_builtins(rule.when).items() if v is not None}
    return {"when": when, "agency": rule.agency}


def routing_hash(default_agency: str, rules: Sequence[RoutingRule]) -> str:
    """A stable hash of a routing's content (key order and unset conditions do not count)."""
    document = {"default_agency": default_agency, "rules": [rule_view(r) for r in rules]}
    return hashlib.sha256(msgspec.json.encode(document, order="sorted")).hexdigest()


def routing_errors(
    tenant: str,
    default_agency: str,
    rules: Sequence[RoutingRule],
    settings: Settings,
    specs: Mapping[str, AdapterSpec],
) -> list[FieldError]:
    """Everything wrong with a routing for `tenant`, each with the JSON pointer of the part at fault.

    A claim must never be routed to an agency that cannot take it: refusing the routing here is
    what keeps a switch from turning into claims failing one by one at submission.
    """
    tenant_settings = settings.tenants.get(tenant)
    credentials = tenant_settings.credentials if tenant_settings is not None else {}
    errors: list[FieldError] = []

    def agency_errors(pointer: str, agency: str) -> AdapterSpec | None:
        spec = specs.get(agency)
        if spec is None or agency not in settings.agencies:
            errors.append(FieldError(pointer=pointer, detail=f"agency {agency!r} is not configured"))
            return None
        if agency not in credentials:
            errors.append(
                FieldError(pointer=pointer, detail=f"{agency!r} has no credentials for tenant {tenant!r}")
            )
            return None
        return spec

    agency_errors("/default_agency", default_agency)
    for index, rule in enumerate(rules):
        at = f"/rules/{index}"
        when = rule.when
        for position, currency in enumerate(when.currency or ()):
            if not is_currency(currency):
                errors.append(
                    FieldError(
                        pointer=f"{at}/when/currency/{position}",
                        detail=f"{currency!r} is not an ISO 4217 code",
                    )
                )
        for position, country in enumerate(when.country or ()):
            if not _COUNTRY.match(country):
                errors.append(
                    FieldError(
                        pointer=f"{at}/when/country/{position}",
                        detail=f"{country!r} is not an ISO 3166-1 alpha-2 code (two capital letters)",
                    )
                )
        for position, claim_type in enumerate(when.type or ()):
            if claim_type not in CLAIM_TYPES:
                errors.append(
                    FieldError(
                        pointer=f"{at}/when/type/{position}", detail=f"{claim_type!r} is not a claim type"
                    )
                )
        for name in ("amount_min", "amount_max"):
            value = getattr(when, name)
            if value is not None and value < 0:
                errors.append(FieldError(pointer=f"{at}/when/{name}", detail="must not be negative"))
        if when.amount_min is not None and when.amount_max is not None and when.amount_min > when.amount_max:
            errors.append(FieldError(pointer=f"{at}/when", detail="amount_min is greater than amount_max"))
        spec = agency_errors(f"{at}/agency", rule.agency)
        if spec is None:
            continue
        caps = spec.capabilities
        if "claim.create" not in caps.supported:
            errors.append(
                FieldError(pointer=f"{at}/agency", detail=f"{rule.agency} does not take new claims")
            )
        if caps.currencies is not None:
            missing = [c for c in when.currency or () if is_currency(c) and c not in caps.currencies]
            if missing:
                errors.append(
                    FieldError(
                        pointer=f"{at}/agency",
                        detail=f"{rule.agency} does not take {', '.join(missing)} (rule {index} sends it there)",
                    )
                )
        if caps.claim_types is not None:
            missing = [t for t in when.type or () if t in CLAIM_TYPES and t not in caps.claim_types]
            if missing:
                errors.append(
                    FieldError(
                        pointer=f"{at}/agency",
                        detail=f"{rule.agency} has no {', '.join(missing)} claims (rule {index} sends them there)",
                    )
                )
    return errors
