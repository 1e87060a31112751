"""Deliveries to what a tenant's actions name: a signed JSON webhook, a Slack incoming webhook,
an email over SMTP, a GitHub ``repository_dispatch``.

Each target module makes one attempt and answers an :class:`~couturier.notify.outcome.Attempt`
(status code, duration, error, whether a retry can help); it never raises for the receiver's
sake and never retries itself: retries, backoff and giving up are the delivery job's
(:mod:`couturier.services.deliveries`). :mod:`~couturier.notify.addresses` decides which URLs
a delivery may reach at all.
"""

from couturier.notify.outcome import Attempt

__all__ = ["Attempt"]
