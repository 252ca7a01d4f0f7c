"""The worker's webhook dispatcher: every event of a tenant's feed to each matching endpoint.

- **One task per endpoint**, under a lease in the store (one worker per endpoint across replicas):
  an endpoint's events go out one at a time, in feed order, so a receiver sees them ordered. A slow
  or dead endpoint holds only its own task; every request has a deadline
  (`webhooks.timeout_seconds`) and the worker sends at most `webhooks.max_concurrency` at once.
  The operation pipeline runs in its own tasks and never waits for a webhook.
- **At least once.** The endpoint's cursor moves past an event only after a 2xx, in the same
  atomic store step that records the attempt. A worker killed mid-request leaves the cursor where
  it was; when its lease runs out (`webhooks.lease_seconds`) another worker (or the same one,
  restarted) sends the event again with the same `webhook-id`.
- **Retries.** Anything but a 2xx fails the attempt: other statuses (3xx too: redirects are not
  followed), timeouts, refused or reset connections, addresses not allowed. The next attempt waits
  `standard_backoff` (5 s, 25 s, then 1, 2, 4 … min up to 12 h, with jitter), never less than the
  receiver's `Retry-After`. An endpoint failing for `webhooks.disable_after_seconds` (3 days) since
  its last success is disabled, and a `webhook.endpoint_disabled` event in the tenant's feed says so.
- **Safety.** Every connection goes through `GuardedResolver` (no private addresses unless the host
  is in `webhooks.allow_http_hosts`); the URL's form is checked again before each attempt.

Events are read from the feed at delivery time, never copied: what an erase scrubbed from the
feed is not sent afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import aiohttp
import msgspec

from canonical import Event
from canonical.problems import GatewayError
from gateway import metrics
from gateway.logs import get_logger
from gateway.services.webhooks import WebhookService
from gateway.stores import new_id, utcnow
from gateway.stores.webhooks import DeliveryAttempt, DeliveryState, Redelivery, WebhookEndpoint
from gateway.webhooks.safety import GuardedResolver, UrlRefused, check_address, check_url
from gateway.webhooks.signing import Signer

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = ["Backoff", "SendResult", "WebhookDispatcher", "standard_backoff"]

log = logging.getLogger(__name__)
#: One line per failed attempt and per disabled endpoint (successes are counted, not logged:
#: a busy worker delivers thousands a second). Never the URL's secret parts, never a secret.
attempt_log = get_logger("gateway.webhooks")

#: Seconds before the next attempt, given the failed attempts so far and the receiver's Retry-After.
Backoff = Callable[[int, float | None], float]

_MAX_DELAY = 12 * 3600.0
#: Successful deliveries are saved (cursor + attempt records) at least this often.
_FLUSH_COUNT = 50
_FLUSH_SECONDS = 0.2
_enc = msgspec.json.Encoder()


def standard_backoff(attempt: int, retry_after: float | None) -> float:
    """5 s after the first failure, 25 s after the second (both retries within a minute), then
    1, 2, 4, 8 … minutes up to 12 h; each 75-100 % of that (jitter), never sooner than Retry-After."""
    if attempt <= 1:
        base = 5.0
    elif attempt == 2:
        base = 25.0
    else:
        base = min(60.0 * 2 ** (attempt - 3), _MAX_DELAY)
    return max(base * random.uniform(0.75, 1.0), min(retry_after or 0.0, _MAX_DELAY))


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class SendResult(msgspec.Struct, kw_only=True):
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    duration_ms: int = 0
    outcome: str = "error"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Step = Literal["progress", "idle", "waiting", "lost", "disabled"]


class WebhookDispatcher:
    """Started by the worker (`Worker.run`); tests run it alone with a quick `backoff` and a `clock`."""

    def __init__(
        self,
        runtime: Runtime,
        service: WebhookService | None = None,
        *,
        owner: str | None = None,
        backoff: Backoff = standard_backoff,
        clock: Callable[[], float] = time.time,
        batch: int = 100,
        on_round: Callable[[], None] | None = None,
    ) -> None:
        self.runtime = runtime
        #: Called after each scheduling round (the worker's liveness: Worker.beat).
        self.on_round = on_round
        self.config = runtime.settings.webhooks
        self.service = service or WebhookService(runtime)
        self.hooks = self.service.hooks
        self.store = runtime.store
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self.backoff = backoff
        self.clock = clock
        self.batch = batch
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._renewed: dict[str, float] = {}
        self._failing: set[str] = set()
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(self.config.max_concurrency)
        self._allowed = frozenset(self.config.allow_http_hosts)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve every enabled endpoint this worker can lease, until `stop` is set."""
        connector = aiohttp.TCPConnector(
            limit=self.config.max_concurrency, resolver=GuardedResolver(self._allowed), ttl_dns_cache=10
        )
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
        ) as session:
            self._session = session
            try:
                while not stop.is_set():
                    try:
                        await self.schedule(stop)
                    except GatewayError as exc:  # store down: try again on the next round
                        log.warning("webhook scheduling paused: %s", exc)
                    except Exception:  # never take the worker's other loops down with it
                        log.exception("webhook scheduling failed; trying again")
                    if self.on_round is not None:
                        self.on_round()
                    await _wait(stop, self.config.poll_interval_seconds)
            finally:
                tasks = list(self._tasks.values())
                if tasks:
                    _, running = await asyncio.wait(tasks, timeout=self.config.timeout_seconds + 1)
                    for task in running:
                        task.cancel()
                    await asyncio.gather(*running, return_exceptions=True)
                self._session = None

    async def schedule(self, stop: asyncio.Event) -> int:
        """Start a task for each enabled endpoint not served yet whose lease this worker gets."""
        started = 0
        for tenant in self.runtime.settings.tenants:
            for endpoint in await self.hooks.list_endpoints(tenant):
                if endpoint.status != "enabled" or endpoint.id in self._tasks:
                    continue
                if not await self.hooks.lease(endpoint.id, self.owner, self.config.lease_seconds):
                    continue
                task = asyncio.create_task(self._serve(endpoint, stop), name=f"webhook-{endpoint.id}")
                self._tasks[endpoint.id] = task
                started += 1
        return started

    async def _serve(self, endpoint: WebhookEndpoint, stop: asyncio.Event) -> None:
        try:
            await self._serve_endpoint(endpoint, stop)
        except GatewayError as exc:
            log.warning("webhook endpoint %s paused: %s", endpoint.id, exc)
        except Exception:
            log.exception("webhook endpoint %s failed in the gateway", endpoint.id)
        finally:
            if endpoint.id in self._failing:
                self._failing.discard(endpoint.id)
                metrics.WEBHOOK_ENDPOINTS_FAILING.dec()
            self._tasks.pop(endpoint.id, None)
            self._renewed.pop(endpoint.id, None)
            with contextlib.suppress(Exception):
                await self.hooks.release(endpoint.id, self.owner)

    async def _serve_endpoint(self, endpoint: WebhookEndpoint, stop: asyncio.Event) -> None:
        state = await self.hooks.get_state(endpoint.id) or DeliveryState()
        lease = self.config.lease_seconds
        while not stop.is_set():
            if not await self.hooks.lease(endpoint.id, self.owner, lease):
                return
            self._renewed[endpoint.id] = time.monotonic()
            current = await self.hooks.get_endpoint(endpoint.tenant, endpoint.id)
            if current is None or current.status != "enabled":
                return
            redelivery = await self.hooks.next_redelivery(current.id)
            if redelivery is not None:
                if not await self._redeliver(current, redelivery):
                    return
                continue
            step = await self._advance(current, state, stop)
            if step in ("lost", "disabled"):
                return
            if step == "idle":
                await _wait(stop, min(self.config.poll_interval_seconds, lease / 3))
            elif step == "waiting":
                due = (state.next_attempt_at or 0.0) - self.clock()
                await _wait(stop, max(0.0, min(due, lease / 3)))

    async def _keep_lease(self, endpoint_id: str) -> bool:
        if time.monotonic() - self._renewed.get(endpoint_id, 0.0) < self.config.lease_seconds / 3:
            return True
        self._renewed[endpoint_id] = time.monotonic()
        return bool(await self.hooks.lease(endpoint_id, self.owner, self.config.lease_seconds))

    async def _advance(self, endpoint: WebhookEndpoint, state: DeliveryState, stop: asyncio.Event) -> Step:
        """Deliver what is due of the endpoint's next page of events.

        Successes are saved in groups (cursor and attempt records in one atomic step, at most
        `_FLUSH_COUNT` deliveries or `_FLUSH_SECONDS` apart): a crash before a save sends those
        events again — at least once still holds — and the store is not asked once per delivery.
        """
        if state.next_attempt_at is not None and state.next_attempt_at > self.clock():
            return "waiting"
        events, position = await self.store.list_events(endpoint.tenant, state.after, self.batch)
        dirty = _realign(state, events)
        signer: Signer | None = None
        done: list[DeliveryAttempt] = []
        since = time.monotonic()
        while state.offset < len(events) and not stop.is_set():
            if not await self._keep_lease(endpoint.id):
                return "lost"
            event = events[state.offset]
            if not endpoint.wants(event.type):
                state.offset += 1
                state.last_event_id = event.id
                dirty = True
                continue
            if signer is None:
                signer = Signer(await self.service.signing_secrets(endpoint))
            result = await self.send(endpoint, signer, event)
            record = DeliveryAttempt(
                id=new_id("whd"),
                endpoint_id=endpoint.id,
                event_id=event.id,
                attempt=state.attempt + 1,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                error=result.error,
                created_at=utcnow(),
                feed_after=state.after,
                feed_offset=state.offset,
            )
            if not result.ok:
                return await self._failed(endpoint, state, [*done, record], result)
            state.offset += 1
            state.last_event_id = event.id
            state.attempt, state.next_attempt_at, state.failing_since = 0, None, None
            done.append(record)
            dirty = True
            if len(done) >= _FLUSH_COUNT or time.monotonic() - since >= _FLUSH_SECONDS:
                if not await self.hooks.save_progress(endpoint.id, self.owner, state, done):
                    return "lost"
                done, dirty, since = [], False, time.monotonic()
        if state.offset >= len(events) and position is not None:
            state.after, state.offset = position, 0
            dirty = True
        if dirty and not await self.hooks.save_progress(endpoint.id, self.owner, state, done):
            return "lost"
        return "progress" if position is not None else "idle"

    async def _failed(
        self,
        endpoint: WebhookEndpoint,
        state: DeliveryState,
        records: list[DeliveryAttempt],
        result: SendResult,
    ) -> Step:
        """The attempt at the head failed (`records[-1]`; earlier ones are unsaved successes)."""
        record = records[-1]
        now = self.clock()
        state.attempt = record.attempt
        state.failing_since = state.failing_since or now
        if now - state.failing_since >= self.config.disable_after_seconds:
            state.next_attempt_at = None
            if not await self.hooks.save_progress(endpoint.id, self.owner, state, records):
                return "lost"
            since = dt.datetime.fromtimestamp(state.failing_since, dt.UTC)
            hours = round((now - state.failing_since) / 3600)
            reason = f"every attempt failed for {hours} h (last: {record.error})"
            await self.service.disable(endpoint, reason, since)
            metrics.WEBHOOK_DELIVERIES.labels("gave_up").inc()
            attempt_log.warning(
                "webhook endpoint disabled", tenant=endpoint.tenant, endpoint_id=endpoint.id, reason=reason
            )
            return "disabled"
        state.next_attempt_at = now + max(0.0, self.backoff(record.attempt, result.retry_after))
        record.next_attempt_at = dt.datetime.fromtimestamp(state.next_attempt_at, dt.UTC)
        attempt_log.info(
            "webhook attempt failed",
            tenant=endpoint.tenant,
            endpoint_id=endpoint.id,
            event_id=record.event_id,
            attempt=record.attempt,
            status_code=record.status_code,
            error=record.error,
            duration_ms=record.duration_ms,
            retry_in_seconds=round(state.next_attempt_at - now, 1),
        )
        if not await self.hooks.save_progress(endpoint.id, self.owner, state, records):
            return "lost"
        return "waiting"

    async def _redeliver(self, endpoint: WebhookEndpoint, redelivery: Redelivery) -> bool:
        """One attempt outside the schedule (an admin asked); it does not move the cursor."""
        offset = redelivery.feed_offset
        events, _ = await self.store.list_events(
            endpoint.tenant, redelivery.feed_after, max(offset + 1, self.batch)
        )
        # Where it was, or (the feed trimmed since) wherever it is now on that page.
        event = next((e for e in events if e.id == redelivery.event_id), None)
        if event is None:
            result = SendResult(error="the event is no longer in the tenant's feed", outcome="gone")
        else:
            result = await self.send(endpoint, Signer(await self.service.signing_secrets(endpoint)), event)
        record = DeliveryAttempt(
            id=new_id("whd"),
            endpoint_id=endpoint.id,
            event_id=redelivery.event_id,
            attempt=1,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
            created_at=utcnow(),
            redelivery=True,
            feed_after=redelivery.feed_after,
            feed_offset=offset,
        )
        return bool(await self.hooks.save_progress(endpoint.id, self.owner, None, [record], redelivered=True))

    async def send(self, endpoint: WebhookEndpoint, signer: Signer, event: Event) -> SendResult:
        """One signed POST of `event` to the endpoint: what came of it (never raises for the receiver's faults)."""
        assert self._session is not None, "the dispatcher is not running"
        body = _enc.encode(event)
        started = time.perf_counter()
        result = SendResult()
        try:
            host = check_url(endpoint.url, self._allowed)
            if _is_literal(host):
                check_address(host, host.strip("[]"), self._allowed)
            headers = signer.headers(event.id, dt.datetime.now(dt.UTC), body)
            async with (
                self._slots,
                self._session.post(
                    endpoint.url, data=body, headers=headers, allow_redirects=False
                ) as response,
            ):
                await response.content.read(65536)
                result.status_code = response.status
                if not result.ok:
                    result.error = f"HTTP {response.status}" + (
                        " (redirects are not followed)" if 300 <= response.status < 400 else ""
                    )
                    result.retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
                result.outcome = "success" if result.ok else "http_error"
        except UrlRefused as exc:
            result.error, result.outcome = f"refused: {exc}", "refused"
        except TimeoutError:
            result.error, result.outcome = f"timed out after {self.config.timeout_seconds:g} s", "timeout"
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            refused = isinstance(cause, UrlRefused) or isinstance(exc.__cause__, UrlRefused)
            result.outcome = "refused" if refused else "connect_error"
            result.error = f"refused: {cause}" if refused else f"cannot connect: {cause.strerror or cause}"
        except aiohttp.ClientError as exc:
            result.error, result.outcome = f"{type(exc).__name__}: {exc}", "error"
        result.duration_ms = int((time.perf_counter() - started) * 1000)
        metrics.WEBHOOK_DELIVERY_SECONDS.observe(time.perf_counter() - started)
        metrics.WEBHOOK_DELIVERIES.labels("delivered" if result.ok else "failed").inc()
        self._mark_failing(endpoint.id, not result.ok)
        return result

    def _mark_failing(self, endpoint_id: str, failing: bool) -> None:
        if failing and endpoint_id not in self._failing:
            self._failing.add(endpoint_id)
            metrics.WEBHOOK_ENDPOINTS_FAILING.inc()
        elif not failing and endpoint_id in self._failing:
            self._failing.discard(endpoint_id)
            metrics.WEBHOOK_ENDPOINTS_FAILING.dec()


def _realign(state: DeliveryState, events: list[Event]) -> bool:
    """Keep the cursor on the right event when the feed was trimmed under it (True: it moved).

    The feed keeps each tenant's newest events only (`events_max_per_tenant`). An endpoint far
    enough behind can see the oldest events of its page trimmed away, and then `offset` would
    count past events it never sent. The last event done tells where the cursor really is: just
    after it on the page, or — when it was trimmed itself — at the page's first event, since
    everything still there is newer.
    """
    if state.offset == 0 or state.last_event_id is None:
        return False
    index = state.offset - 1
    if index < len(events) and events[index].id == state.last_event_id:
        return False
    found = next((i for i, e in enumerate(events) if e.id == state.last_event_id), None)
    state.offset = 0 if found is None else found + 1
    state.attempt, state.next_attempt_at = 0, None
    return True


def _is_literal(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        await asyncio.sleep(0)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
