"""Problems (RFC 9457) as typed exceptions: catch by kind, read `code`, `errors[].pointer`, `request_id`.

GatewayError
├── ProblemError                 any problem+json answer (or a non-JSON error status)
│   ├── BadRequest               400: malformed_json, invalid_parameter, invalid_cursor, idempotency_key_*
│   ├── Unauthorized             401
│   ├── Forbidden                403
│   ├── NotFound                 404
│   ├── Conflict                 409
│   │   ├── DuplicateClientReference
│   │   └── IdempotencyInProgress   (retried by the client with the same key)
│   ├── PreconditionFailed       412 / 428
│   ├── RequestTooLarge          413
│   ├── UnprocessableEntity      422
│   │   ├── ValidationFailed     errors[].pointer names each field at fault
│   │   ├── UnsupportedByAgency  `agency` says which
│   │   ├── IdempotencyKeyReused
│   │   └── AgencyRejected
│   ├── RateLimited              429 (retried, honouring Retry-After)
│   └── ServerError              5xx (retried)
│       └── ServiceUnavailable   503: agency_unavailable, agency_rate_limited, store_unavailable
├── WaitTimeout                  wait_for: the operation was not final in time
└── WebhookVerificationError     verify_webhook: not signed by this secret, or too old
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from collection_gateway_client.models import FieldError, Problem

if TYPE_CHECKING:
    from collection_gateway_client.models import Operation

__all__ = [
    "AgencyRejected",
    "BadRequest",
    "Conflict",
    "DuplicateClientReference",
    "Forbidden",
    "GatewayError",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "NotFound",
    "PreconditionFailed",
    "ProblemError",
    "RateLimited",
    "RequestTooLarge",
    "ServerError",
    "ServiceUnavailable",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedByAgency",
    "ValidationFailed",
    "WaitTimeout",
    "WebhookVerificationError",
    "problem_class",
    "problem_error",
]


class GatewayError(Exception):
    """Everything this client raises on its own account."""


class ProblemError(GatewayError):
    """The gateway answered with a problem (RFC 9457)."""

    def __init__(self, problem: Problem, *, request_id: str | None = None, retry_after: float | None = None):
        self.problem = problem
        self.request_id = request_id
        self.retry_after = retry_after
        text = f"{problem.status} {problem.code}: {problem.detail or problem.title}"
        super().__init__(text + (f" (request {request_id})" if request_id else ""))

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def code(self) -> str:
        return self.problem.code

    @property
    def detail(self) -> str | None:
        return self.problem.detail

    @property
    def errors(self) -> list[FieldError]:
        return list(self.problem.errors or ())

    @property
    def pointers(self) -> list[str]:
        """`errors[].pointer`: the JSON pointers of the fields at fault."""
        return [error.pointer for error in self.errors]


class BadRequest(ProblemError):
    pass


class Unauthorized(ProblemError):
    pass


class Forbidden(ProblemError):
    pass


class NotFound(ProblemError):
    pass


class Conflict(ProblemError):
    pass


class DuplicateClientReference(Conflict):
    pass


class IdempotencyInProgress(Conflict):
    pass


class PreconditionFailed(ProblemError):
    pass


class RequestTooLarge(ProblemError):
    pass


class UnprocessableEntity(ProblemError):
    pass


class ValidationFailed(UnprocessableEntity):
    pass


class UnsupportedByAgency(UnprocessableEntity):
    @property
    def agency(self) -> str | None:
        return self.problem.agency


class IdempotencyKeyReused(UnprocessableEntity):
    pass


class AgencyRejected(UnprocessableEntity):
    pass


class RateLimited(ProblemError):
    pass


class ServerError(ProblemError):
    pass


class ServiceUnavailable(ServerError):
    pass


class WaitTimeout(GatewayError):
    """`wait_for` ran out of time; `operation` is the last state seen (not final)."""

    def __init__(self, operation: Operation, timeout: float) -> None:
        self.operation = operation
        super().__init__(f"operation {operation.id} still {operation.status} after {timeout:g} s")


class WebhookVerificationError(GatewayError):
    pass


_BY_CODE: dict[str, type[ProblemError]] = {
    "duplicate_client_reference": DuplicateClientReference,
    "idempotency_in_progress": IdempotencyInProgress,
    "validation_failed": ValidationFailed,
    "unsupported_by_agency": UnsupportedByAgency,
    "idempotency_key_reused": IdempotencyKeyReused,
    "agency_rejected": AgencyRejected,
}
_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: RequestTooLarge,
    422: UnprocessableEntity,
    428: PreconditionFailed,
    429: RateLimited,
    503: ServiceUnavailable,
}
_problem = msgspec.json.Decoder(Problem)


def problem_error(
    status: int, body: bytes, *, request_id: str | None = None, retry_after: float | None = None
) -> ProblemError:
    """The typed exception for an error answer: by `code` first, then by status."""
    try:
        problem = _problem.decode(body)
    except msgspec.DecodeError:  # not problem+json: a proxy's page, an empty body
        problem = Problem(
            status=status,
            code="http_error",
            title=f"HTTP {status}",
            detail=body[:200].decode(errors="replace") or None,
        )
    if not problem.status:
        problem.status = status
    return problem_class(status, problem.code)(problem, request_id=request_id, retry_after=retry_after)


def problem_class(status: int, code: str) -> type[ProblemError]:
    """The exception class of a problem: by `code` first, then by status."""
    kind = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if kind is None:
        kind = ServerError if status >= 500 else ProblemError
    return kind
