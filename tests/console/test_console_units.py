"""The console's pure parts: the session cookie and the routing diff."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.console._diff import routing_diff
from gateway.console._session import (
    SESSION_SECONDS,
    csrf_token,
    new_session,
    open_session,
    seal_session,
    session_secret,
    tokens_match,
)
from gateway.services.tenants import Rule, RuleWhen

SECRET = session_secret(b"k" * 32)


def test_a_sealed_session_opens_until_it_expires_and_never_under_another_secret() -> None:
    session = new_session("key_1", now=1000.0)
    sealed = seal_session(session, SECRET)
    assert open_session(sealed, SECRET, now=1001.0) == session
    assert open_session(sealed, SECRET, now=1000.0 + SESSION_SECONDS) is None
    assert open_session(sealed, session_secret(b"j" * 32), now=1001.0) is None


@given(st.text(max_size=200))
def test_any_other_cookie_value_is_no_session(value: str) -> None:
    assert open_session(value, SECRET, now=0.0) is None


def test_a_changed_key_id_breaks_the_signature() -> None:
    sealed = seal_session(new_session("key_1", now=0.0), SECRET)
    forged = seal_session(new_session("key_2", now=0.0), session_secret(b"x" * 32))
    assert open_session(forged.split(".")[0] + "." + sealed.split(".")[1], SECRET, now=1.0) is None


@given(st.text(max_size=100))
def test_no_other_text_matches_a_csrf_token(sent: str) -> None:
    expected = csrf_token(new_session("key_1"), SECRET)
    assert tokens_match(sent, expected) is (sent == expected)


def test_csrf_tokens_differ_per_session() -> None:
    assert csrf_token(new_session("key_1"), SECRET) != csrf_token(new_session("key_1"), SECRET)


def rule(agency: str, **when: object) -> Rule:
    return Rule(when=RuleWhen(**when), agency=agency)  # type: ignore[arg-type]


def test_the_diff_shows_a_changed_default_and_a_moved_rule() -> None:
    chf, jpy = rule("y", currency=["CHF"]), rule("x", currency=["JPY"], amount_min=100)
    lines = routing_diff(("x", [chf, jpy]), ("y", [jpy, chf]))
    removed = [line.text for line in lines if line.change == "removed"]
    added = [line.text for line in lines if line.change == "added"]
    assert "default agency: x" in removed and "default agency: y" in added
    assert "rule 0: currency CHF → y" in removed and "rule 1: currency CHF → y" in added
    assert "rule 0: currency JPY; amount ≥ 100 → x" in added


def test_equal_versions_differ_in_nothing() -> None:
    lines = routing_diff(("x", [rule("y", country=["DE"])]), ("x", [rule("y", country=["DE"])]))
    assert {line.change for line in lines} == {"same"}
