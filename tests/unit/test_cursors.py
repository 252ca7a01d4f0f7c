"""Cursors: opaque, bound to one list, tamper-proof. Anything else is 400 invalid_cursor."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canonical import open_cursor, seal_cursor
from canonical.problems import BadRequest

KEY = b"k" * 32
SCOPE = "claims|acme|status=active"
positions = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
scopes = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)


def _refused(cursor: str, scope: str = SCOPE, key: bytes = KEY) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        open_cursor(cursor, scope, key)
    error = caught.value
    assert error.status == 400
    assert error.code == "invalid_cursor"
    assert error.problem().code == "invalid_cursor"
    return error


@settings(max_examples=200)
@given(position=positions, scope=scopes)
def test_a_sealed_cursor_opens_to_its_position(position: str, scope: str) -> None:
    cursor = seal_cursor(position, scope, KEY)
    assert open_cursor(cursor, scope, KEY) == position


@settings(max_examples=100)
@given(position=positions)
def test_a_cursor_is_url_safe_and_does_not_show_the_scope(position: str) -> None:
    cursor = seal_cursor(position, "tenant-secret-scope", KEY)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "tenant-secret-scope" not in cursor


@settings(max_examples=200)
@given(position=positions, data=st.data())
def test_a_cursor_with_any_byte_changed_is_refused(position: str, data: st.DataObject) -> None:
    raw = bytearray(base64.urlsafe_b64decode(_padded(seal_cursor(position, SCOPE, KEY))))
    index = data.draw(st.integers(0, len(raw) - 1), label="byte")
    raw[index] ^= data.draw(st.integers(1, 255), label="flip")
    _refused(base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode())


@settings(max_examples=200)
@given(position=positions, other=scopes)
def test_a_cursor_for_another_list_is_refused(position: str, other: str) -> None:
    if other == SCOPE:
        return
    _refused(seal_cursor(position, other, KEY))


def test_a_cursor_for_another_tenant_or_filter_is_refused() -> None:
    cursor = seal_cursor("page-2", "claims|acme|status=active", KEY)
    assert open_cursor(cursor, "claims|acme|status=active", KEY) == "page-2"
    _refused(cursor, scope="claims|other|status=active")
    _refused(cursor, scope="claims|acme|status=closed")
    _refused(cursor, scope="operations|acme|status=active")


def test_a_cursor_sealed_with_another_key_is_refused() -> None:
    _refused(seal_cursor("page-2", SCOPE, b"another gateway's secret"))


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "a",
        "abc",
        "not a cursor",
        "!!!!",
        "éé",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        base64.urlsafe_b64encode(b"\x00" * 16 + b"page-2").decode(),
        "%00%ff",
        "2",  # what an adapter's own position looks like: never accepted raw
    ],
)
def test_garbage_is_refused(cursor: str) -> None:
    _refused(cursor)


@settings(max_examples=200)
@given(garbage=st.text(max_size=100))
def test_no_text_opens_without_being_sealed(garbage: str) -> None:
    with pytest.raises(BadRequest) as caught:
        open_cursor(garbage, SCOPE, KEY)
    assert caught.value.code == "invalid_cursor"


def test_a_truncated_cursor_is_refused() -> None:
    cursor = seal_cursor("position-with-some-length", SCOPE, KEY)
    for cut in (1, 5, len(cursor) // 2, len(cursor) - 1):
        _refused(cursor[:cut])


def _padded(cursor: str) -> str:
    return cursor + "=" * (-len(cursor) % 4)
