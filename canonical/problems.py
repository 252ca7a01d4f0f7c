"""Problems (RFC 9457) and the error tree every boundary translates into.

    GatewayError                      code, status, title, detail
    ├── BadRequest                    400: malformed_json, invalid_parameter, invalid_cursor, ...
    ├── UnsupportedMediaType          415 unsupported_media_type
    ├── Unauthorized                  401 unauthorized
    ├── Forbidden                     403 forbidden
    ├── NotFound                      404 not_found
    ├── Conflict                      409: duplicate_client_reference, idempotency_in_progress
    ├── ValidationFailed              422 validation_failed, with errors[].pointer
    ├── UnsupportedByAgency           422 unsupported_by_agency (agency + capability)
    ├── ServiceUnavailable            503 store_unavailable
    └── AgencyError                   an agency's fault, never our 500
        ├── AgencyRejected            422 agency_rejected: the agency refused the content (final)
        ├── AgencyAuthFailed          502 agency_auth_failed: our credentials were refused (final)
        ├── AgencyUnavailable         503 agency_unavailable: 5xx, timeout, breaker open (retry)
        │   └── AgencyRateLimited     503 agency_rate_limited, with Retry-After (retry)
        └── OutcomeUnknown            503 agency_unavailable: a write may have reached the agency;
                                       reconcile before resending (retry)

`retryable` says whether the same request may succeed later. Each boundary raises with
`raise ... from exc`; one handler in the gateway renders any of them as problem+json.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from canonical._base import FieldError

__all__ = [
    "CODES",
    "AgencyAuthFailed",
    "AgencyError",
    "AgencyRateLimited",
    "AgencyRejected",
    "AgencyReviewTimeout",
    "AgencyUnavailable",
    "BadRequest",
    "Conflict",
    "FieldError",
    "Forbidden",
    "GatewayError",
    "NotFound",
    "OutcomeUnknown",
    "PreconditionFailed",
    "PreconditionRequired",
    "Problem",
    "ServiceUnavailable",
    "Unauthorized",
    "UnsupportedByAgency",
    "UnsupportedMediaType",
    "ValidationFailed",
]

PROBLEM_BASE = "https://collection-gateway.dev/problems/"

#: Every stable problem code and what it means. Documented in docs/api-errors (generated from this).
CODES: dict[str, str] = {
    "malformed_json": "the body is not JSON or not of the expected shape",
    "invalid_parameter": "a query or path parameter is out of range",
    "invalid_cursor": "the cursor was not made by this gateway for this list",
    "idempotency_key_missing": "a write without an Idempotency-Key header",
    "idempotency_key_invalid": "an Idempotency-Key outside 1-255 characters",
    "idempotency_key_reused": "the Idempotency-Key was used with another body or path",
    "idempotency_in_progress": "the first request with this Idempotency-Key is still running",
    "unauthorized": "no valid API key",
    "forbidden": "the key lacks the scope this needs",
    "not_found": "no such resource for this key",
    "method_not_allowed": "the resource does not take this method",
    "request_too_large": "the body is larger than the configured limit",
    "unsupported_media_type": "the body is not application/json",
    "validation_failed": "a well-formed body breaks a rule; see errors[]",
    "duplicate_client_reference": "the tenant already has a claim with this client_reference",
    "precondition_required": "the request needs If-Match",
    "precondition_failed": "If-Match names a version that is no longer current",
    "unsupported_by_agency": "the claim's agency cannot do this",
    "agency_rejected": "the agency refused the request; detail holds its message",
    "agency_auth_failed": "the agency refused our credentials for this tenant",
    "agency_unavailable": "the agency did not answer in time or failed; retried until attempts ran out",
    "agency_rate_limited": "the agency's rate limit leaves no slot for this read now; see Retry-After",
    "agency_review_timeout": "the agency did not decide within its adapter's review time; ask the agency",
    "claim_not_ready": "the claim is not yet known at its agency",
    "operation_not_retryable": "only a failed operation whose failure the agency did not decide can be retried",
    "store_unavailable": "the gateway's store cannot be reached; nothing was stored",
    "internal_error": "a fault in the gateway; the request id helps us find it",
}


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details, with our stable `code` and validation `errors`."""

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    agency: str | None = None
    retry_after: int | None = None


class GatewayError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extensions = extensions

    def problem(self, instance: str | None = None) -> Problem:
        return Problem(
            type=PROBLEM_BASE + self.code,
            title=self.title,
            status=self.status,
            code=self.code,
            detail=self.detail
            if self.detail is None or len(self.detail) <= 2000
            else self.detail[:1999] + "…",
            instance=instance,
            **self.extensions,
        )


class BadRequest(GatewayError):
    status, title = 400, "Bad request"

    def __init__(self, detail: str, code: str = "invalid_parameter", **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.code = code  # type: ignore[misc]


class UnsupportedMediaType(GatewayError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class Unauthorized(GatewayError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(GatewayError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(GatewayError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(GatewayError):
    status, title = 409, "Conflict"

    def __init__(self, detail: str, code: str, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.code = code  # type: ignore[misc]


class PreconditionRequired(GatewayError):
    status, code, title = 428, "precondition_required", "Precondition required"


class PreconditionFailed(GatewayError):
    status, code, title = 412, "precondition_failed", "Precondition failed"


#: A problem names at most this many errors (a huge body must not make a huge answer, stored
#: for a day under its Idempotency-Key); each pointer and detail at most TEXT_MAX characters.
ERRORS_MAX = 100
TEXT_MAX = 300


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


class ValidationFailed(GatewayError):
    status, code, title = 422, "validation_failed", "Validation failed"

    def __init__(self, errors: list[FieldError], detail: str | None = None, code: str | None = None) -> None:
        total = len(errors)
        errors = [FieldError(pointer=_cut(e.pointer), detail=_cut(e.detail)) for e in errors[:ERRORS_MAX]]
        if detail is None:
            detail = "; ".join(f"{e.pointer}: {e.detail}" for e in errors[:5])
            if total > 5:
                shown = min(total, ERRORS_MAX)
                detail = f"{total} errors (the first {shown} of {total} are listed); {detail}; …"
        super().__init__(_cut(detail), errors=errors)
        if code:
            self.code = code  # type: ignore[misc]


class UnsupportedByAgency(GatewayError):
    status, code, title = 422, "unsupported_by_agency", "Unsupported by agency"

    def __init__(self, agency: str, capability: str, detail: str | None = None) -> None:
        super().__init__(detail or f"{agency} does not support {capability}", agency=agency)
        self.capability = capability


class ServiceUnavailable(GatewayError):
    status, code, title, retryable = 503, "store_unavailable", "Service unavailable", True


class AgencyError(GatewayError):
    """An agency's fault. Carries the agency's name and request id when it sent one."""

    status, code, title = 502, "agency_error", "Agency error"

    def __init__(
        self, detail: str | None = None, *, agency: str | None = None, agency_request_id: str | None = None
    ) -> None:
        super().__init__(detail, agency=agency)
        self.agency = agency
        self.agency_request_id = agency_request_id


class AgencyRejected(AgencyError):
    status, code, title = 422, "agency_rejected", "Rejected by agency"


class AgencyReviewTimeout(AgencyError):
    """A submitted write stayed under the agency's review past `review_timeout_seconds`."""

    status, code, title = 504, "agency_review_timeout", "Agency review timed out"


class AgencyAuthFailed(AgencyError):
    status, code, title = 502, "agency_auth_failed", "Agency refused our credentials"


class AgencyUnavailable(AgencyError):
    status, code, title, retryable = 503, "agency_unavailable", "Agency unavailable", True

    def __init__(
        self,
        detail: str | None = None,
        *,
        agency: str | None = None,
        agency_request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail, agency=agency, agency_request_id=agency_request_id)
        self.retry_after = retry_after
        if retry_after is not None:
            self.extensions["retry_after"] = max(1, int(retry_after + 0.999))


class AgencyRateLimited(AgencyUnavailable):
    code, title = "agency_rate_limited", "Agency rate limit reached"


class OutcomeUnknown(AgencyUnavailable):
    """The request may have reached the agency (timeout or reset after sending a write)."""

    title = "Agency outcome unknown"
