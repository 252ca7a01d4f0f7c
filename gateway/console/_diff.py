"""What changed between two routing versions, line by line (pure: no I/O).

A version reads as lines — `default agency: x`, then one line per rule in order
(`rule 1: currency EUR, CHF; country DE → y`) — and two versions differ as a line diff of those,
so a reordered rule shows as moved (removed here, added there): order decides which rule wins.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Literal

import msgspec

from gateway.services.tenants import Rule

__all__ = ["DiffLine", "routing_diff", "routing_lines", "rule_text"]


class DiffLine(msgspec.Struct, frozen=True):
    change: Literal["same", "removed", "added"]
    text: str


def rule_text(rule: Rule) -> str:
    when = rule.when
    parts: list[str] = []
    if when.currency:
        parts.append("currency " + ", ".join(when.currency))
    if when.country:
        parts.append("country " + ", ".join(when.country))
    if when.type:
        parts.append("type " + ", ".join(when.type))
    if when.amount_min is not None:
        parts.append(f"amount ≥ {when.amount_min}")
    if when.amount_max is not None:
        parts.append(f"amount ≤ {when.amount_max}")
    return f"{'; '.join(parts) or 'any claim'} → {rule.agency}"


def routing_lines(default_agency: str, rules: Sequence[Rule]) -> list[str]:
    return [f"default agency: {default_agency}"] + [
        f"rule {index}: {rule_text(rule)}" for index, rule in enumerate(rules)
    ]


def routing_diff(old: tuple[str, Sequence[Rule]], new: tuple[str, Sequence[Rule]]) -> list[DiffLine]:
    """Every line of both versions, marked same/removed/added, in reading order."""
    before, after = routing_lines(*old), routing_lines(*new)
    lines: list[DiffLine] = []
    for entry in difflib.ndiff(before, after):
        tag, text = entry[:2], entry[2:]
        if tag == "  ":
            lines.append(DiffLine("same", text))
        elif tag == "- ":
            lines.append(DiffLine("removed", text))
        elif tag == "+ ":
            lines.append(DiffLine("added", text))
    return lines
