"""Deliveries as jobs: queuing one, making each attempt, retrying with backoff, giving up.

A delivery is one event's payload for one action (:mod:`couturier.store.actions`). It is
queued as a job of kind ``deliver`` whose lock key names it (``delivery:<id>``), in the unit
of work of the change that caused it. The job (:func:`run_delivery`) makes one attempt
through the action's target (:mod:`couturier.notify`) outside any transaction, then records
it (status code, duration, error) and the delivery's state:

- delivered on success;
- on a failure that a retry can help (a timeout, a refused connection, a ``5xx``, ``408``,
  ``429``, an SMTP ``4xx``), a new job for the next attempt, due after ``retry_first`` seconds
  doubled after each attempt (at most :data:`MAX_WAIT_SECONDS`), unless that is past
  ``give_up_after`` seconds from the event: then failed, with the last reason;
- failed at once on any other failure (a ``4xx``, a redirect, an address refused).

Deliveries run on their own workers (:func:`start_deliveries`: threads of ``serve`` apart
from the build workers, on the embedded backend; the ``couturier worker`` processes on
procrastinate), so a receiver that hangs holds one delivery worker for at most the settings'
``timeout`` and never a build.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from couturier.errors import CouturierError
from couturier.jobs import ClaimedJob, EmbeddedQueue, JobHandler, JobQueue
from couturier.notify import Attempt
from couturier.notify.github import send_dispatch
from couturier.notify.slack import escape, send_slack
from couturier.notify.smtp import send_email
from couturier.notify.webhook import send_webhook
from couturier.store import UnitOfWork
from couturier.store.actions import Action, Delivery, DeliveryAttempt, TenantActions

if TYPE_CHECKING:
    from couturier.services.installation import Installation

__all__ = [
    "MAX_WAIT_SECONDS",
    "Deliveries",
    "delivery_handlers",
    "describe",
    "queue_delivery",
    "retry_wait",
    "run_delivery",
    "secret_purpose",
    "start_deliveries",
]

log = logging.getLogger("couturier.deliveries")

KIND = "deliver"
MAX_WAIT_SECONDS = 3600.0
POLL_SECONDS = 1.0  # as the build workers: an idle worker polls with one short write


def secret_purpose(action_id: int) -> str:
    """The associated data an action's secret is sealed with (a sealed value copied into
    another action's row does not open there)."""
    return f"action:{action_id}:secret"


def _lock_key(delivery_id: int) -> str:
    return f"delivery:{delivery_id}"


def _delivery_id(job: ClaimedJob) -> int | None:
    prefix, _, number = (job.lock_key or "").partition(":")
    return int(number) if prefix == "delivery" and number.isdigit() else None


def _queue(installation: Installation) -> JobQueue:
    """A queue that only queues (its workers are elsewhere): the settings' backend."""
    if installation.settings.jobs == "procrastinate":
        from couturier.jobs.procrastinate_queue import ProcrastinateQueue

        return ProcrastinateQueue(installation.store)
    return EmbeddedQueue(installation.store, {}, 0)


def retry_wait(installation: Installation, attempts: int) -> float:
    """Seconds to wait after attempt number ``attempts`` (1, 2, ...) before the next one."""
    first = installation.settings.notify.retry_first
    # The exponent is capped: a float times 2**1024 overflows, and the wait is capped anyway.
    return float(min(first * 2 ** min(max(attempts - 1, 0), 62), MAX_WAIT_SECONDS))


def queue_delivery(
    uow: UnitOfWork,
    installation: Installation,
    action: Action,
    event: str,
    payload: dict[str, Any],
) -> Delivery:
    """A new delivery of ``payload`` (event ``event``) to ``action``, queued as a job in
    ``uow``."""
    now = installation.clock()
    delivery = TenantActions(uow.session, action.tenant_id).add_delivery(
        Delivery(
            tenant_id=action.tenant_id,
            action_id=action.id,
            uid=str(uuid.uuid4()),
            event=event,
            payload=payload,
            state="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
    )
    _queue(installation).enqueue(
        uow,
        kind=KIND,
        lock_key=_lock_key(delivery.id),
        tenant_id=action.tenant_id,
        build_id=None,
        now=now,
    )
    return delivery


# -- what is said ------------------------------------------------------------------------------


def describe(payload: dict[str, Any]) -> str:
    """One line saying what ``payload``'s event is, for a Slack message or an email subject."""
    kind, image = payload.get("event"), payload.get("image", "")
    line = payload.get("line")
    if kind == "line-new-digest":
        return f"{image}:{line} has a new digest {payload.get('digest')}"
    if kind == "line-failed":
        problem = payload.get("problem") or {}
        return f"{image}:{line} {payload.get('status')}: {problem.get('message', '')}".strip()
    if kind == "cves-fixed":
        return f"{image}:{line} fixes {', '.join(payload.get('cves') or [])}"
    if kind == "line-end-of-life":
        return f"{image}:{line} reaches its end of life on {payload.get('end_of_life')}"
    if kind == "image-deleted":
        return f"{image} was deleted"
    return f"test event of action {payload.get('action', {}).get('name', '')}"


@dataclass(frozen=True)
class _Target:
    """What one attempt needs, read in the unit that claims it."""

    kind: str
    settings: dict[str, Any]
    secret: str = field(repr=False)
    uid: str
    event: str
    payload: dict[str, Any]
    problem: str | None = None  # why no attempt can be made (a secret that does not open)


def _send(installation: Installation, target: _Target, now: dt.datetime) -> Attempt:
    if target.problem is not None:
        return Attempt(None, 0, target.problem)
    timeout = installation.settings.notify.timeout
    settings, payload = target.settings, target.payload
    if target.kind == "webhook":
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return send_webhook(
            str(settings["url"]),
            event=target.event,
            delivery_id=target.uid,
            body=body,
            secret=target.secret.encode(),
            timestamp=int(now.timestamp()),
            timeout=timeout,
        )
    if target.kind == "slack":
        text = f"*Couturier*: {escape(describe(payload))}"
        return send_slack(target.secret, text, timeout=timeout)
    if target.kind == "github":
        return send_dispatch(
            str(settings["api_url"]),
            str(settings["repository"]),
            target.secret,
            event_type=str(settings.get("event_type") or "couturier"),
            client_payload={"event": target.event, "delivery": target.uid, "data": payload},
            timeout=timeout,
        )
    smtp = installation.settings.notify.smtp
    if smtp is None:
        return Attempt(None, 0, "no SMTP server is configured (settings notify.smtp)")
    text = json.dumps(payload, ensure_ascii=False, indent=2) + "\n"
    subject = f"[couturier] {describe(payload)}"[:200]
    return send_email(smtp, list(settings["to"]), subject, text, timeout=timeout)


# -- the job -----------------------------------------------------------------------------------


def _claim(installation: Installation, job: ClaimedJob) -> tuple[_Target, int] | None:
    delivery_id = _delivery_id(job)
    if delivery_id is None or job.tenant_id is None:
        return None
    with installation.store.unit() as uow:
        repo = TenantActions(uow.session, job.tenant_id)
        delivery = repo.delivery(delivery_id)
        action = repo.action(delivery.action_id) if delivery is not None else None
        if delivery is None or action is None or delivery.state != "pending":
            return None
        secret, problem = "", None
        if action.secret is not None:
            try:
                opened = installation.key.open(action.secret, secret_purpose(action.id))
                secret = opened.decode()
            except CouturierError as error:  # never retried: the key will not change by itself
                problem = error.message
        target = _Target(
            action.target_kind,
            dict(action.target),
            secret,
            delivery.uid,
            delivery.event,
            dict(delivery.payload),
            problem,
        )
        return target, delivery.attempts + 1


def run_delivery(installation: Installation, job: ClaimedJob) -> None:
    """Run the delivery job ``job``: one attempt, recorded, and the next one queued or the
    delivery ended. A delivery or action deleted meanwhile, or one already ended, is nothing
    to do."""
    claimed = _claim(installation, job)
    if claimed is None:
        return
    target, number = claimed
    started = installation.clock()
    try:
        attempt = _send(installation, target, started)
    except Exception:  # a bug: this delivery fails, saying so, instead of looping
        log.exception("delivery %s: internal error", target.uid)
        attempt = Attempt(None, 0, "internal error while sending (see the server's log)")
    log.info(
        "delivery %s (%s, %s): attempt %d %s in %d ms%s",
        target.uid,
        target.event,
        target.kind,
        number,
        attempt.status_code if attempt.status_code is not None else "-",
        attempt.duration_ms,
        f": {attempt.error}" if attempt.error else "",
    )
    _record(installation, job, number, started, attempt)


def _record(
    installation: Installation,
    job: ClaimedJob,
    number: int,
    started: dt.datetime,
    attempt: Attempt,
) -> None:
    assert job.tenant_id is not None
    delivery_id = _delivery_id(job)
    assert delivery_id is not None
    now = installation.clock()
    with installation.store.unit(write=True) as uow:
        repo = TenantActions(uow.session, job.tenant_id)
        delivery = repo.delivery(delivery_id)
        if delivery is None or delivery.state != "pending":
            return
        repo.add_attempt(
            delivery,
            DeliveryAttempt(
                number=number,
                started_at=started,
                status_code=attempt.status_code,
                duration_ms=attempt.duration_ms,
                error=attempt.error,
            ),
        )
        delivery.attempts, delivery.error = number, attempt.error
        if attempt.delivered:
            delivery.state, delivery.finished_at, delivery.next_attempt_at = "delivered", now, None
            return
        due = now + dt.timedelta(seconds=retry_wait(installation, number))
        give_up = delivery.created_at + dt.timedelta(
            seconds=installation.settings.notify.give_up_after
        )
        if attempt.retryable and due <= give_up:
            delivery.next_attempt_at = due
            _queue(installation).enqueue(
                uow,
                kind=KIND,
                lock_key=_lock_key(delivery.id),
                tenant_id=job.tenant_id,
                build_id=None,
                now=now,
                run_after=due,
            )
            return
        if attempt.retryable:
            attempts = f"{number} attempt{'s' if number > 1 else ''}"
            delivery.error = f"given up after {attempts}: {attempt.error}"
        delivery.state, delivery.finished_at, delivery.next_attempt_at = "failed", now, None


def delivery_handlers(installation: Installation) -> dict[str, JobHandler]:
    """The job handlers of deliveries (kind → handler), for a worker's handler map."""
    return {KIND: lambda job: run_delivery(installation, job)}


class Deliveries:
    """The delivery workers of this process: threads of their own on the embedded backend
    (none on procrastinate, whose ``couturier worker`` processes run deliveries)."""

    def __init__(
        self, installation: Installation, workers: int, poll: float = POLL_SECONDS
    ) -> None:
        self._queue: EmbeddedQueue | None = None
        if installation.settings.jobs != "procrastinate" and workers > 0:
            self._queue = EmbeddedQueue(
                installation.store, delivery_handlers(installation), workers, poll=poll
            )

    def start(self) -> None:
        if self._queue is not None:
            self._queue.start()

    def stop(self, timeout: float = 5.0) -> bool:
        return self._queue.stop(timeout) if self._queue is not None else True


def start_deliveries(installation: Installation, workers: int) -> Deliveries:
    """The delivery workers of ``installation`` (``workers`` threads; call
    :meth:`Deliveries.start`)."""
    return Deliveries(installation, workers)
