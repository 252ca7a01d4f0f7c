"""Base classes that set msgspec options once, so every message says what kind it is.

(`kw_only` is not inherited by msgspec: each subclass repeats `kw_only=True`. `Value` subclasses
also repeat `frozen=True`: msgspec inherits it, but mypy's dataclass_transform does not see that.)

- `Value`: frozen, keyword-only; small values compared by content (Address, Allocation).
- `Body`: what our own clients send. `forbid_unknown_fields=True` so a typo (`ammount`) is an
  error naming the field instead of a silently ignored member. Never used for agency responses,
  where an additive release of theirs must not become our outage.
- `View`: what the gateway answers and stores; tolerant of fields it does not know so that
  records written by a newer version still read.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["Body", "FieldError", "Text", "Value", "View", "nonempty"]


class Value(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A small immutable value sent by clients and echoed back."""


class Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A request body from one of our clients: strict."""


class View(msgspec.Struct, kw_only=True, omit_defaults=False):
    """A document the gateway answers or stores."""


def nonempty(max_length: int, description: str = "") -> object:
    return msgspec.Meta(min_length=1, max_length=max_length, description=description or None)


Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    """One broken rule in a request, located by an RFC 6901 JSON pointer into the body."""

    pointer: str
    detail: str
