"""Moved to the conformance kit (`collection_gateway.conformance.harness`); kept for old imports."""

from collection_gateway.conformance.harness import Agency, running_agency, sample_claim

__all__ = ["Agency", "running_agency", "sample_claim"]
