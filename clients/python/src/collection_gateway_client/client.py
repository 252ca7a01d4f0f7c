"""`Client` (sync) and `AsyncClient`: one tenant's view of the gateway, on httpx.

    with Client("http://gateway:8000", api_key, tenant="acme") as gateway:
        operation = gateway.claims.create(claim)          # Idempotency-Key set, retried with it
        operation = gateway.wait_for(operation)            # succeeded | failed
        for claim in gateway.claims.list(status="active"): # every page, lazily
            ...

Writes get an Idempotency-Key (a UUID4 unless the caller passes one) that stays the same over
every retry of that call (RetryPolicy), so a timeout or a dropped connection never makes a second
claim or payment at the agency. `wait=N` asks the gateway to wait up to N s (≤ 30) for the
outcome before it answers (Prefer: wait).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import httpx
import stamina

from collection_gateway_client._core import Call, RetryPolicy, decode, should_retry
from collection_gateway_client._resources import Calls
from collection_gateway_client.errors import WaitTimeout
from collection_gateway_client.models import (
    Agency,
    Claim,
    ClaimCreate,
    ClaimStatus,
    CreditNoteCreate,
    Event,
    Invoice,
    Operation,
    OperationKind,
    OperationStatus,
    Page,
    Payment,
    PaymentReport,
    PaymentReversal,
    Withdrawal,
)

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
USER_AGENT = "collection-gateway-client/0.1.0"
PAGE_SIZE = 100


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT, "Accept": "application/json"}


def _retrying(policy: RetryPolicy) -> Any:
    return stamina.retry_context(
        on=should_retry(policy),
        attempts=policy.attempts,
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    )


def _operation_id(operation: Operation | str) -> str:
    return operation if isinstance(operation, str) else operation.id


# sync


class Client:
    """The gateway for one tenant, synchronously. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        tenant: str,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.tenant = tenant
        self.retry = retry or RetryPolicy()
        self._timeout = timeout
        self._calls = Calls(tenant)
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )
        self.claims = Claims(self)
        self.operations = Operations(self)
        self.events = Events(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """One request, retried by the policy; the answer decoded or a ProblemError raised."""
        headers, params, content = call.request()
        timeout = self._timeout + (call.wait or 0)
        for attempt in _retrying(self.retry):
            with attempt:
                response = self._http.request(
                    call.method, call.path, params=params, content=content, headers=headers, timeout=timeout
                )
                return decode(call, response)
        raise AssertionError("stamina ends with an answer or an exception")  # pragma: no cover

    def pages(self, call: Call[Page[T]]) -> Iterator[Page[T]]:
        cursor: str | None = None
        while True:
            page = self.send(call.with_params(cursor=cursor))
            yield page
            if not page.has_more or not page.next_cursor:
                return
            cursor = page.next_cursor

    def items(self, call: Call[Page[T]]) -> Iterator[T]:
        for page in self.pages(call):
            yield from page.data

    def agencies(self) -> list[Agency]:
        """Every agency and what it can do (`capabilities`, `currencies`)."""
        return self.send(Calls.list_agencies()).data

    def wait_for(self, operation: Operation | str, *, timeout: float = 60.0) -> Operation:
        """The operation once it is final (succeeded or failed); WaitTimeout after `timeout` s."""
        if isinstance(operation, Operation) and operation.final:
            return operation
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            current = self.operations.get(_operation_id(operation))
            left = deadline - time.monotonic()
            if current.final:
                return current
            if left <= 0:
                raise WaitTimeout(current, timeout)
            time.sleep(min(delay, left))
            delay = min(delay * 1.5, 2.0)


class Claims:
    def __init__(self, client: Client) -> None:
        self._c = client
        self._calls = client._calls

    def create(
        self, claim: ClaimCreate, *, idempotency_key: str | None = None, wait: int | None = None
    ) -> Operation:
        """Submit a claim: the `claim.create` operation (its `claim_id` is the new claim's id)."""
        return self._c.send(self._calls.submit_claim(claim, idempotency_key, wait))

    def get(self, claim_id: str, *, expand_agency_data: bool = False, refresh: bool = False) -> Claim:
        return self._c.send(self._calls.get_claim(claim_id, expand_agency_data, refresh))

    def list(
        self,
        *,
        status: ClaimStatus | None = None,
        agency: str | None = None,
        client_reference: str | None = None,
        created_after: dt.datetime | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Claim]:
        return self._c.items(
            self._calls.list_claims(status, agency, client_reference, created_after, page_size)
        )

    def invoices(self, claim_id: str, *, page_size: int = PAGE_SIZE) -> Iterator[Invoice]:
        return self._c.items(self._calls.list_invoices(claim_id, page_size))

    def payments(self, claim_id: str, *, page_size: int = PAGE_SIZE) -> Iterator[Payment]:
        return self._c.items(self._calls.list_payments(claim_id, page_size))

    def report_payment(
        self,
        claim_id: str,
        payment: PaymentReport,
        *,
        idempotency_key: str | None = None,
        wait: int | None = None,
    ) -> Operation:
        return self._c.send(self._calls.report_payment(claim_id, payment, idempotency_key, wait))

    def reverse_payment(
        self,
        claim_id: str,
        payment_id: str,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
        wait: int | None = None,
    ) -> Operation:
        body = PaymentReversal(reason=reason)
        return self._c.send(self._calls.reverse_payment(claim_id, payment_id, body, idempotency_key, wait))

    def create_credit_note(
        self,
        claim_id: str,
        note: CreditNoteCreate,
        *,
        idempotency_key: str | None = None,
        wait: int | None = None,
    ) -> Operation:
        return self._c.send(self._calls.create_credit_note(claim_id, note, idempotency_key, wait))

    def withdraw(
        self,
        claim_id: str,
        withdrawal: Withdrawal,
        *,
        idempotency_key: str | None = None,
        wait: int | None = None,
    ) -> Operation:
        return self._c.send(self._calls.withdraw(claim_id, withdrawal, idempotency_key, wait))


class Operations:
    def __init__(self, client: Client) -> None:
        self._c = client

    def get(self, operation_id: str) -> Operation:
        return self._c.send(self._c._calls.get_operation(operation_id))

    def list(
        self,
        *,
        status: OperationStatus | None = None,
        kind: OperationKind | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Operation]:
        return self._c.items(self._c._calls.list_operations(status, kind, page_size))


class Events:
    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self, *, page_size: int = PAGE_SIZE) -> Iterator[Event]:
        """The tenant's event feed, oldest first."""
        return self._c.items(self._c._calls.list_events(page_size))


# async


class AsyncClient:
    """The gateway for one tenant, asynchronously. `async with`, or `await aclose()`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        tenant: str,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.tenant = tenant
        self.retry = retry or RetryPolicy()
        self._timeout = timeout
        self._calls = Calls(tenant)
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )
        self.claims = AsyncClaims(self)
        self.operations = AsyncOperations(self)
        self.events = AsyncEvents(self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        headers, params, content = call.request()
        timeout = self._timeout + (call.wait or 0)
        async for attempt in _retrying(self.retry):
            with attempt:
                response = await self._http.request(
                    call.method, call.path, params=params, content=content, headers=headers, timeout=timeout
                )
                return decode(call, response)
        raise AssertionError("stamina ends with an answer or an exception")  # pragma: no cover

    async def pages(self, call: Call[Page[T]]) -> AsyncIterator[Page[T]]:
        cursor: str | None = None
        while True:
            page = await self.send(call.with_params(cursor=cursor))
            yield page
            if not page.has_more or not page.next_cursor:
                return
            cursor = page.next_cursor

    async def items(self, call: Call[Page[T]]) -> AsyncIterator[T]:
        async for page in self.pages(call):
            for item in page.data:
                yield item

    async def agencies(self) -> list[Agency]:
        return (await self.send(Calls.list_agencies())).data

    async def wait_for(self, operation: Operation | str, *, timeout: float = 60.0) -> Operation:
        if isinstance(operation, Operation) and operation.final:
            return operation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.05
        while True:
            current = await self.operations.get(_operation_id(operation))
            left = deadline - loop.time()
            if current.final:
                return current
            if left <= 0:
                raise WaitTimeout(current, timeout)
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 1.5, 2.0)


class AsyncClaims:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client
        self._calls = client._calls

    async def create(
        self, claim: ClaimCreate, *, idempotency_key: str | None = None, wait: int | None = None
    ) -> Operation:
        return await self._c.send(self._calls.submit_claim(claim, idempotency_key, wait))

    async def get(self, claim_id: str, *, expand_agency_data: bool = False, refresh: bool = False) -> Claim:
        return await self._c.send(self._calls.get_claim(claim_id, expand_agency_data, refresh))

    def list(
        self,
        *,
        status: ClaimStatus | None = None,
        agency: str | None = None,
        client_reference: str | None = None,
        created_after: dt.datetime | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[Claim]:
        return self._c.items(
            self._calls.list_claims(status, agency, client_reference, created_after, page_size)
        )

    def invoices(self, claim_id: str, *, page_size: int = PAGE_SIZE) -> AsyncIterator[Invoice]:
        return self._c.items(self._calls.list_invoices(claim_id, page_size))

    def payments(self, claim_id: str, *, page_size: int = PAGE_SIZE) -> AsyncIterator[Payment]:
        return self._c.items(self._calls.list_payments(claim_id, page_size))

    async def report_payment(
        self,
        claim_id: str,
        payment: PaymentReport,
        *,
        idempotency_key: str | None = None,
        wait: int | None = None,
    ) -> Operation:
        return await self._c.send(self._calls.report_payment(claim_id, payment, idempotency_key, wait))

    async def reverse_payment(
        self,
        claim_id: str,
        payment_id: str,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
        wait: int | None = None,
    ) -> Operation:
        body = PaymentReversal(reason=reason)
        return await self._c.send(
            self._calls.reverse_payment(claim_id, payment_id, body, idempotency_key, wait)
        )

    async def create_credit_note(
        self,
        claim_id: str,
        note: CreditNoteCreate,
        *,
        idempotency_key: str | None = None,
        wait: int | None = None,
    ) -> Operation:
        return await self._c.send(self._calls.create_credit_note(claim_id, note, idempotency_key, wait))

    async def withdraw(
        self,
        claim_id: str,
        withdrawal: Withdrawal,
        *,
        idempotency_key: str | None = None,
        wait: int | None = None,
    ) -> Operation:
        return await self._c.send(self._calls.withdraw(claim_id, withdrawal, idempotency_key, wait))


class AsyncOperations:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def get(self, operation_id: str) -> Operation:
        return await self._c.send(self._c._calls.get_operation(operation_id))

    def list(
        self,
        *,
        status: OperationStatus | None = None,
        kind: OperationKind | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[Operation]:
        return self._c.items(self._c._calls.list_operations(status, kind, page_size))


class AsyncEvents:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    def list(self, *, page_size: int = PAGE_SIZE) -> AsyncIterator[Event]:
        return self._c.items(self._c._calls.list_events(page_size))
