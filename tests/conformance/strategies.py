"""Moved to the conformance kit (`collection_gateway.conformance.strategies`); kept for old imports."""

from collection_gateway.conformance.strategies import (
    CURRENCIES,
    FILE_TYPES,
    LANGUAGES,
    amounts,
    attachments,
    claim_creates,
    debtors,
    invoices,
    references,
    texts,
)

__all__ = [
    "CURRENCIES",
    "FILE_TYPES",
    "LANGUAGES",
    "amounts",
    "attachments",
    "claim_creates",
    "debtors",
    "invoices",
    "references",
    "texts",
]
