"""One HTTP POST of a delivery: bounded in time, never following a redirect.

The request has one timeout for connecting, writing and each read (``timeout`` seconds), so
a receiver that accepts the connection and never answers costs at most about that long. A
redirect is not followed (the delivery would reach a host nobody registered, and a loop
would never end): a ``3xx`` is a failed attempt naming where it pointed. The host's
addresses are checked just before the request
(:func:`~couturier.notify.addresses.resolved_problem`).
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Mapping

import httpx

from couturier.notify.addresses import resolved_problem
from couturier.notify.outcome import Attempt

__all__ = ["USER_AGENT", "post"]

USER_AGENT = "couturier-notify"
_BODY_SHOWN = 200  # characters of a receiver's error answer kept in the reason
_READ_BYTES = 4096  # bytes of an error answer read to find them


def _one_line(text: str, limit: int = _BODY_SHOWN) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@functools.cache
def _tls() -> ssl.SSLContext:
    """The system trust store's TLS context, made once: making one loads every CA
    certificate (about 0.1 s on a busy machine), which each delivery would pay again."""
    return ssl.create_default_context()


def _start_of(answer: httpx.Response) -> str:
    """The first :data:`_READ_BYTES` of an error answer's body as one line (a receiver's
    body is never read whole: it may be endless); nothing of a success's."""
    if answer.is_success or answer.is_redirect:
        return ""
    read = b""
    for chunk in answer.iter_bytes():
        read += chunk
        if len(read) >= _READ_BYTES:
            break
    return _one_line(read[:_READ_BYTES].decode("utf-8", "replace"))


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> Attempt:
    """POST ``body`` to ``url`` with ``headers`` (and ``User-Agent``); a ``2xx`` is delivered.
    A ``5xx``, ``408``, ``429``, a timeout or a connection that fails can be retried; any other
    answer (``4xx``, ``3xx``) cannot. ``transport`` replaces the network (tests)."""
    started = time.monotonic()
    problem = resolved_problem(url)
    if problem is not None:
        return Attempt(None, _ms(started), f"refused to send: {problem}", retryable=False)
    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(timeout),
                follow_redirects=False,
                verify=_tls(),
                transport=transport,
                headers={"User-Agent": USER_AGENT},
            ) as client,
            client.stream("POST", url, content=body, headers=dict(headers)) as answer,
        ):
            said = _start_of(answer)
    except httpx.TimeoutException:
        return Attempt(None, _ms(started), f"no answer within {timeout:g} s", retryable=True)
    except httpx.TransportError as error:
        reason = _one_line(str(error)) or type(error).__name__
        return Attempt(None, _ms(started), f"cannot connect: {reason}", retryable=True)
    duration, status = _ms(started), answer.status_code
    if answer.is_success:
        return Attempt(status, duration)
    if answer.is_redirect:
        target = _one_line(answer.headers.get("location", "nowhere"))
        reason = f"answered {status}, a redirect to {target}; deliveries follow no redirect"
        return Attempt(status, duration, reason, retryable=False)
    reason = f"answered {status} {answer.reason_phrase}" + (f": {said}" if said else "")
    retryable = status >= 500 or status in (408, 429)
    return Attempt(status, duration, reason, retryable=retryable)
