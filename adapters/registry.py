"""Discovers adapters through the entry-point group `collection_gateway.adapters`.

The built-in three register exactly like a third-party package would: one line in
`pyproject.toml` naming an `AdapterSpec`. An entry point that fails to load is reported with its
error and left out; start-up then fails if the config names that agency.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from adapters.base import AdapterSpec

__all__ = ["GROUP", "discover"]

GROUP = "collection_gateway.adapters"
log = logging.getLogger(__name__)


def discover() -> dict[str, AdapterSpec]:
    specs: dict[str, AdapterSpec] = {}
    for entry in entry_points(group=GROUP):
        try:
            spec = entry.load()
        except Exception as exc:
            log.error("adapter %s (%s) failed to load: %s", entry.name, entry.value, exc)
            continue
        if not isinstance(spec, AdapterSpec):
            log.error("adapter %s: %s is not an AdapterSpec", entry.name, entry.value)
            continue
        specs[spec.name] = spec
    return dict(sorted(specs.items()))
