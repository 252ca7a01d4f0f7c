"""Which agency gets a new claim: the tenant's ordered rules, first match wins, else the default."""

from __future__ import annotations

from canonical import ClaimCreate, claim_total
from gateway.settings import RuleMatch, TenantSettings

__all__ = ["choose_agency", "rule_matches"]


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


def choose_agency(tenant: TenantSettings, claim: ClaimCreate) -> tuple[str, int | None]:
    """(agency, index of the rule that chose it, or None for the default agency)."""
    for index, rule in enumerate(tenant.routing.rules):
        if rule_matches(rule.when, claim):
            return rule.agency, index
    return tenant.default_agency, None
