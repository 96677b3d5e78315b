"""Webhooks on run end: signed, retried with backoff, at least once, off the workers.

A run's webhook is subscribed before the run is queued (``Dispatcher.subscribe``: the
run's own URL, else the app's ``webhook_url``) and kept in the outbox (``outbox``). A
``Dispatcher`` thread per process looks at the outbox every ``WEBHOOK_POLL`` seconds,
and at once when a worker of its process ends a run (other processes' runs wait for the
next look): it fires the webhooks of runs that ended (the payload: ``type``,
``idempotency_key`` and the run's summary as ``GET /runs/{id}`` shows it) and posts those
that are due. A worker never waits for a receiver (it only wakes the dispatcher).

Each delivery is a ``POST`` of the JSON payload with these headers:

- ``X-Runner-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` under
  ``create_app(webhook_secret=)`` (as Stripe and Standard Webhooks sign);
- ``Idempotency-Key`` and ``X-Runner-Idempotency-Key``: the same on every attempt at one
  run's end, so a receiver that got it before can tell;
- ``X-Runner-Event: run.ended``.

A 2xx answer delivers it; anything else (another status, a redirect, no answer within
the timeout) is an attempt that failed, tried again after ``webhook_retry``'s backoff
(``RetryConfig.compute_delay``) until its ``max_attempts``. Every attempt is logged and
answered by ``GET /runs/{id}/webhooks`` (the URL without user info or query values, the
status code, the error, the time). The clock is ``Dispatcher.clock`` (tests replace it:
a retry is due when the clock says so, nobody sleeps).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from fastapi import FastAPI
from pydantic import BaseModel, Field

from langgraph_runner._policies.retry import RetryConfig
from langgraph_runner._records.egress import egress_error
from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._runs.run_store import owner
from langgraph_runner._runs.tenancy import shown_thread_id
from langgraph_runner._service.automation.outbox import (
    Attempt,
    Hook,
    Outbox,
    check_url,
    idempotency_key,
    payload_of,
    shown_url,
)
from langgraph_runner._service.automation.ticker import Ticker
from langgraph_runner._service.guards import shown
from langgraph_runner._service.routes import Ctx, RunId, _summary, run_row, store_of

__all__ = [
    "DEFAULT_WEBHOOK_RETRY",
    "SIGNATURE_HEADER",
    "WEBHOOK_POLL",
    "Dispatcher",
    "WebhookAttemptBody",
    "WebhookBody",
    "WebhookSettings",
    "add_webhook_routes",
    "sign",
    "webhook_settings",
]

WEBHOOK_POLL = 0.2
"""Seconds between two looks of a process's dispatcher at the outbox."""
SIGNATURE_HEADER = "X-Runner-Signature"
DEFAULT_WEBHOOK_RETRY = RetryConfig(
    max_attempts=8, initial_interval=1.0, backoff_factor=2.0, max_interval=300.0
)
"""Attempts at one delivery and the waits between them: 1 s, 2 s, 4 s ... 5 min, 8 in all."""
_LEASE_SLACK = 30.0  # seconds a claim outlasts the request's timeout
_BATCH = 50  # deliveries at most per pass, so a pass also fires new ones
_READ_AT_MOST = 64 * 1024  # bytes of a receiver's answer read (and dropped)


@dataclasses.dataclass(frozen=True, kw_only=True)
class WebhookSettings:
    """``create_app``'s webhook options, validated (``webhook_settings``)."""

    url: str | None
    secret: bytes | None
    retry: RetryConfig
    timeout: float


def webhook_settings(
    url: str | None, secret: str | bytes | None, retry: RetryConfig | None, timeout: float
) -> WebhookSettings:
    """Check ``create_app``'s ``webhook_url``, ``webhook_secret``, ``webhook_retry`` and
    ``webhook_timeout`` once.

    Raises:
        ValueError: A URL that is not http(s), a secret under 16 bytes, a URL without a
            secret, a timeout not in (0, 300] seconds.
        TypeError: An option of the wrong type.
    """
    if url is not None:
        if not isinstance(url, str):
            raise TypeError(f"create_app: webhook_url must be a URL string, got {url!r}")
        try:
            check_url(url, "webhook_url")
        except ValueError as exc:
            raise ValueError(f"create_app: {exc}") from None
    if secret is not None:
        if not isinstance(secret, (str, bytes)):
            raise TypeError("create_app: webhook_secret must be str or bytes")
        secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(secret) < 16:
            raise ValueError("create_app: webhook_secret must be at least 16 bytes")
    if url is not None and secret is None:
        raise ValueError("create_app: webhook_url needs webhook_secret (deliveries are signed)")
    if retry is not None and not isinstance(retry, RetryConfig):
        raise TypeError(f"create_app: webhook_retry must be a RetryConfig, got {retry!r}")
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"create_app: webhook_timeout must be seconds, got {timeout!r}")
    if not 0 < timeout <= 300:
        raise ValueError(f"create_app: webhook_timeout must be in (0, 300] s, got {timeout!r}")
    return WebhookSettings(
        url=url, secret=secret, retry=retry or DEFAULT_WEBHOOK_RETRY, timeout=float(timeout)
    )


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Runner-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


Post = Callable[[str, bytes, Mapping[str, str], float], tuple[int | None, str | None]]
"""``post(url, body, headers, timeout) -> (status code, error)``: one HTTP attempt."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not delivery: the payload is not posted on to elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http_post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int | None, str | None]:
    """Post ``body`` once: the status code (None: no answer) and why it failed (None: 2xx).

    User info in the URL (``https://user:password@host/``) goes as Basic authentication.
    """
    headers = dict(headers)
    parts = urlsplit(url)
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read(_READ_AT_MOST)
            code = int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code), f"HTTP {exc.code}"
    except Exception as exc:  # no answer: refused, timed out, TLS, DNS
        return None, egress_error(exc, max_length=300)
    return code, None if 200 <= code < 300 else f"HTTP {code}"


class Dispatcher(Ticker):
    """A process's webhook deliveries (see the module docstring).

    Args:
        ctx: The routes' shared state (the saver, the queue).
        settings: The app's webhook options.
        interval: Seconds between two passes over the outbox.
        clock: The time (unix seconds) deliveries and retries are judged by.
        post: One HTTP attempt (``http_post``).
    """

    def __init__(
        self,
        ctx: Ctx,
        settings: WebhookSettings,
        *,
        interval: float = WEBHOOK_POLL,
        clock: Callable[[], float] = time.time,
        post: Post = http_post,
    ) -> None:
        super().__init__("lgr-webhooks", interval, clock)
        self._ctx = ctx
        self.settings = settings
        self._post = post
        self.outbox = Outbox(ctx.saver, owner=owner())
        self._lease = settings.timeout + _LEASE_SLACK

    def subscribe(self, run_id: str, tenant: str | None, url: str | None) -> None:
        """Give a run about to be queued its webhook: ``url``, else the app's (if any).

        Raises:
            RequestRefused: A URL given while the app has no ``webhook_secret`` (422).
        """
        target = url or self.settings.url
        if target is None:
            return
        if self.settings.secret is None:
            raise _Failure(
                422, "webhook: this service has no webhook_secret to sign deliveries", "webhook"
            )
        self.outbox.subscribe(run_id, tenant, target, self.clock())

    def close(self) -> None:
        """Stop delivering (a delivery under way finishes) and let go of the database."""
        self.stop()
        self.outbox.close()

    def step(self) -> int:
        """One pass: fire the webhooks of runs that ended, post those that are due; how
        many were posted."""
        for run_id, tenant, status in self.outbox.ended():
            self.outbox.fire(run_id, self._payload(run_id, tenant, status), self.clock())
        posted = 0
        while posted < _BATCH:
            hook = self.outbox.claim(self.clock(), self._lease)
            if hook is None:
                break
            self._deliver(hook)
            posted += 1
        return posted

    def _payload(self, run_id: str, tenant: str | None, status: str) -> str:
        """The run's summary as ``GET /runs/{id}`` shows it (the queue's, if the run never
        wrote its row: cancelled before it started)."""
        store = store_of(self._ctx.saver)
        try:
            row = store.get(run_id, tenant=tenant)
        finally:
            store.close()
        if row is not None:
            return payload_of(_summary(row).model_dump(mode="json"), run_id)
        item = self._ctx.pool.queue.get(run_id)
        summary = {
            "run_id": run_id,
            "thread_id": None if item is None else shown_thread_id(item.thread_id),
            "workflow": None if item is None else item.workflow,
            "status": "cancelled" if status == "cancelled" else "failed",
            "reason": None,
            "started_at": None if item is None else item.created_at,
            "updated_at": None if item is None else item.created_at,
        }
        return payload_of(summary, run_id)

    def _deliver(self, hook: Hook) -> None:
        attempt = hook.attempts + 1
        at = self.clock()
        body = (hook.payload or "{}").encode()
        key = idempotency_key(hook.run_id)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "langgraph-runner-webhooks",
            "Idempotency-Key": key,
            "X-Runner-Idempotency-Key": key,
            "X-Runner-Event": "run.ended",
            SIGNATURE_HEADER: sign(self.settings.secret or b"", int(at), body),
        }
        started = time.perf_counter()
        code, error = self._post(hook.url, body, headers, self.settings.timeout)
        took = (time.perf_counter() - started) * 1000
        retry = self.settings.retry
        next_at: float | None = None
        if error is None:
            state = "delivered"
        elif attempt >= retry.max_attempts:
            state = "failed"
        else:
            state, next_at = "pending", self.clock() + retry.compute_delay(attempt)
        logged = Attempt(
            attempt=attempt,
            at=at,
            url=shown_url(hook.url),
            status_code=code,
            error=error,
            duration_ms=round(took, 3),
        )
        self.outbox.attempted(hook, logged, state, next_at)


class WebhookAttemptBody(BaseModel):
    """One attempt at delivering a run's webhook."""

    attempt: int = Field(description="1 for the first attempt, 2 for its first retry, ...")
    at: float = Field(description="When it was made (unix seconds).")
    url: str = Field(description="Where it went (no user info; query values as ***).")
    status_code: int | None = Field(description="The receiver's answer (None: no answer).")
    error: str | None = Field(description="Why it failed (None: delivered).")
    duration_ms: float | None = None


class WebhookBody(BaseModel):
    """A run's webhook: where its end is delivered and every attempt so far."""

    run_id: str
    url: str | None = Field(description="Where it goes, as logged (None: the run has none).")
    state: str = Field(
        description="none (no webhook), waiting (the run has not ended), pending (to be "
        "posted, maybe again at next_attempt_at), delivered or failed (attempts ran out)."
    )
    idempotency_key: str | None = Field(description="The same on every attempt.")
    next_attempt_at: float | None = None
    delivered_at: float | None = None
    attempts: list[WebhookAttemptBody] = Field(default_factory=list)


def add_webhook_routes(app: FastAPI, ctx: Ctx, tenant_dep: Any, dispatcher: Dispatcher) -> None:
    """Put ``GET /runs/{id}/webhooks`` on ``app``."""

    @app.get("/runs/{run_id}/webhooks", response_model=WebhookBody)
    def get_webhooks(run_id: RunId, tenant: str = tenant_dep) -> WebhookBody:
        """A run's webhook: its URL, where its delivery stands, each attempt."""
        hook = dispatcher.outbox.get(run_id)
        if hook is None or hook.tenant != tenant:
            mine = run_row(ctx, run_id, tenant) or ctx.pool.pending(run_id, tenant)
            if hook is not None or mine is None:
                raise _Failure(404, f"no run {shown(run_id)}", "run_id")
            return WebhookBody(run_id=run_id, url=None, state="none", idempotency_key=None)
        return WebhookBody(
            run_id=run_id,
            url=shown_url(hook.url),
            state=hook.state,
            idempotency_key=idempotency_key(run_id),
            next_attempt_at=hook.next_at if hook.state == "pending" else None,
            delivered_at=hook.delivered_at,
            attempts=[
                WebhookAttemptBody(**dataclasses.asdict(a))
                for a in dispatcher.outbox.attempts(run_id)
            ],
        )
