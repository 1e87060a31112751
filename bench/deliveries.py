"""Actions' figures: what emitting an event costs the unit of work that emits it, and how fast
the embedded delivery workers drain signed webhooks to a local receiver.

In process, on SQLite in a temporary directory (the embedded defaults), with a local receiver
(:class:`tests.receivers.Receiver`) answering 200. The tenant has :data:`ACTIONS` webhook
actions, one of which matches the benchmark's events (image glob). Measured: the median time
of one ``emit`` in its own write unit (matching the actions, one delivery row, one job), over
``--events`` events; then, with the default two delivery workers started, the wall time from
starting them to the last of those deliveries recorded delivered, as deliveries per second.
Run with ``uv run python -m bench.deliveries [--events N]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.report import machine, median_ms, p95_ms, write_section
from couturier.services import actions, events
from couturier.services.deliveries import start_deliveries
from couturier.services.installation import open_installation
from couturier.services.tokens import Principal
from couturier.settings import load_settings
from couturier.store.actions import Delivery
from couturier.store.models import Image
from tests.receivers import Receiver

ACTIONS = 20
WORKERS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500)
    count = parser.parse_args().events
    with tempfile.TemporaryDirectory() as directory, Receiver() as receiver:
        root = Path(directory)
        env = {"COUTURIER_DATA_DIR": str(root / "data"), "COUTURIER_CACHE_DIR": str(root / "c")}
        installation, _ = open_installation(load_settings(None, env))
        owner = Principal(1, "bench", "admin")
        for number in range(ACTIONS):
            body = {
                "name": f"hook-{number}",
                "events": ["image-deleted"],
                "if": {"image": "bench-*" if number == 0 else f"other-{number}-*"},
                "then": {"kind": "webhook", "url": receiver.url, "secret": "b" * 32},
            }
            actions.create_action(installation, owner, body)
        image = Image(tenant_id=1, name="bench-image", starter="python")
        emits = []
        for _ in range(count):
            started = time.perf_counter()
            with installation.store.unit(write=True) as uow:
                event = events.image_deleted(image, occurred=installation.clock())
                assert len(events.emit(uow, installation, event)) == 1
            emits.append(time.perf_counter() - started)
        workers = start_deliveries(installation, WORKERS)
        started = time.perf_counter()
        workers.start()
        delivered = select(func.count()).select_from(Delivery).where(Delivery.state == "delivered")
        while True:
            with installation.store.unit() as uow:
                done = uow.session.scalar(delivered) or 0
            if done >= count:
                break
            time.sleep(0.05)
        drained = time.perf_counter() - started
        workers.stop()
        installation.close()
    assert len(receiver.requests) == count
    emit, rate = f"{median_ms(emits):.2f}", f"{count / drained:.0f}"
    load = os.getloadavg()[0]
    write_section(
        "deliveries",
        f"""## Actions: emitting events and delivering webhooks

Machine: {machine()}, load average {load:.1f}. Embedded defaults (SQLite), in process;
a tenant with {ACTIONS} webhook actions, one matching; a local receiver answering 200
(`bench/deliveries.py`).

| figure | value |
|---|---:|
| `emit` of one event in its own write unit (match, delivery row, job), median | {emit} ms |
| the same, p95 | {p95_ms(emits):.2f} ms |
| {count} signed webhooks drained by {WORKERS} delivery workers | {drained:.1f} s ({rate}/s) |
""",
    )
    print(f"emit median {median_ms(emits):.2f} ms; {count} deliveries in {drained:.1f} s")


if __name__ == "__main__":
    main()
