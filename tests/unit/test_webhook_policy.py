"""Webhook delivery's pure parts: the retry schedule, Retry-After, which addresses may be called, sealed secrets."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.webhooks.delivery import retry_after_seconds, standard_backoff
from gateway.webhooks.safety import UrlRefused, check_address, check_url
from gateway.webhooks.signing import SecretBox, new_secret


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=5))
def test_the_first_two_retries_come_within_a_minute_then_exponential_up_to_12_hours(
    attempts: list[int],
) -> None:
    assert standard_backoff(1, None) + standard_backoff(2, None) <= 30.0
    for attempt in attempts:
        delay = standard_backoff(attempt, None)
        assert 0 < delay <= 12 * 3600
        if 3 <= attempt <= 12:
            base = 60.0 * 2 ** (attempt - 3)
            assert 0.75 * base <= delay <= base  # jitter never goes past the schedule


def test_retries_cover_three_days_in_a_bounded_number_of_attempts() -> None:
    elapsed, attempts = 0.0, 0
    while elapsed < 3 * 86400:
        attempts += 1
        elapsed += standard_backoff(attempts, None)
    assert 10 <= attempts <= 25


def test_retry_after_wins_when_longer_and_is_read_as_seconds_or_a_date() -> None:
    assert standard_backoff(1, 90.0) == 90.0
    assert standard_backoff(12, 1.0) > 1.0
    assert retry_after_seconds("120", 0.0) == 120.0
    date = email.utils.formatdate(1_000_060.0, usegmt=True)
    assert retry_after_seconds(date, 1_000_000.0) == pytest.approx(60.0)
    assert retry_after_seconds("soon", 0.0) is None and retry_after_seconds(None, 0.0) is None


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1"],
)  # fmt: skip
def test_non_public_addresses_are_refused_unless_the_host_is_named(address: str) -> None:
    with pytest.raises(UrlRefused):
        check_address("hooks.example.com", address, ())
    check_address("receiver.internal", address, ("receiver.internal",))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address: str) -> None:
    check_address("hooks.example.com", address, ())


def test_plain_http_only_for_named_hosts() -> None:
    assert check_url("https://Hooks.Example.com./x", ()) == "hooks.example.com"
    assert check_url("http://receiver.internal:8080/x", ("receiver.internal",)) == "receiver.internal"
    for url in (
        "http://hooks.example.com/x",
        "https://u:p@hooks.example.com/",
        "file:///etc/passwd",
        "/relative",
    ):
        with pytest.raises(UrlRefused):
            check_url(url, ())


def test_a_sealed_secret_opens_only_with_its_key_and_for_its_endpoint() -> None:
    secret = new_secret()
    box = SecretBox("key material")
    sealed = box.seal(secret, "whe_1")
    assert secret not in sealed and box.open(sealed, "whe_1") == secret
    with pytest.raises(ValueError):
        box.open(sealed, "whe_2")
    with pytest.raises(ValueError):
        SecretBox("another key").open(sealed, "whe_1")
    assert "key material" not in repr(box)
