"""Property: for any valid rule set and any claim, `preview` names the agency the claim actually goes to.

One gateway serves every example (its routing gets a new version per example); each claim is
previewed, then submitted, and at the end each agency's ledger must hold exactly the claims the
previews sent there. An independent first-match oracle checks the previews themselves.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.routing._support import TENANT_KEY, bearer, claim, running_gateway

CURRENCIES = ["EUR", "CHF", "SEK"]  # both agencies take these, so every rule set here is valid
COUNTRIES = ["CH", "SE", "DE"]
TYPES = ["invoice", "loan", "medical"]
AMOUNTS = [1, 999, 1000, 5000, 20000, 100000]


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    when: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "currency": st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=2, unique=True),
                "country": st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=2, unique=True),
                "type": st.lists(st.sampled_from(TYPES), min_size=1, max_size=2, unique=True),
                "amount_min": st.sampled_from(AMOUNTS),
                "amount_max": st.sampled_from(AMOUNTS),
            },
        )
    )
    if "amount_min" in when and "amount_max" in when and when["amount_min"] > when["amount_max"]:
        when["amount_min"], when["amount_max"] = when["amount_max"], when["amount_min"]
    return when


rules = st.lists(
    st.fixed_dictionaries({"when": conditions(), "agency": st.sampled_from(["x", "y"])}), max_size=4
)
claims = st.lists(
    st.tuples(
        st.sampled_from(CURRENCIES),
        st.sampled_from(COUNTRIES),
        st.sampled_from(TYPES),
        st.sampled_from(AMOUNTS) | st.integers(1, 150000),
    ),
    min_size=1,
    max_size=4,
)


def oracle(
    default: str, rule_set: list[dict[str, Any]], currency: str, country: str, kind: str, amount: int
) -> tuple[str, int | None]:
    facts = {"currency": currency, "country": country, "type": kind}
    for index, rule in enumerate(rule_set):
        when = rule["when"]
        if any(key in when and facts[key] not in when[key] for key in facts):
            continue
        if amount < when.get("amount_min", amount) or amount > when.get("amount_max", amount):
            continue
        return rule["agency"], index
    return default, None


def test_preview_agrees_with_where_claims_actually_go() -> None:
    expected: dict[str, str] = {}
    numbers = itertools.count(1)
    with running_gateway() as gateway, httpx.Client(base_url=gateway.base_url, timeout=30) as http:

        @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(default=st.sampled_from(["x", "y"]), rule_set=rules, claim_facts=claims)
        def check(
            default: str, rule_set: list[dict[str, Any]], claim_facts: list[tuple[str, str, str, int]]
        ) -> None:
            current = http.get("/v1/admin/tenants/acme", headers=bearer())
            put = http.put(
                "/v1/admin/tenants/acme",
                json={"default_agency": default, "rules": rule_set, "reason": "property"},
                headers=bearer(**{"If-Match": current.headers["etag"]}),
            )
            assert put.status_code == 200, put.text
            version = put.json()["version"]
            for currency, country, kind, amount in claim_facts:
                reference = f"R-{next(numbers)}"
                body = claim(reference, currency, amount, country, type=kind)
                preview = http.post(
                    "/v1/admin/tenants/acme/routing/preview", json=body, headers=bearer()
                ).json()
                agency, rule = oracle(default, rule_set, currency, country, kind, amount)
                assert preview == {"agency": agency, "rule": rule, "version": version}
                accepted = http.post(
                    "/v1/tenants/acme/claims",
                    json=body,
                    headers=bearer(TENANT_KEY, **{"Idempotency-Key": uuid.uuid4().hex}),
                )
                assert accepted.status_code == 202, accepted.text
                assert accepted.json()["agency"] == preview["agency"]
                expected[reference] = preview["agency"]

        check()

        deadline = time.monotonic() + 20
        while len(gateway.x.claims()) + len(gateway.y.claims()) < len(expected):
            assert time.monotonic() < deadline, "claims not delivered"
            time.sleep(0.02)  # waiting on a condition (delivery) with a deadline
    assert sorted(gateway.x.claims()) == sorted(r for r, a in expected.items() if a == "x")
    assert sorted(gateway.y.claims()) == sorted(r for r, a in expected.items() if a == "y")
