"""The gallery's stored cards (:mod:`couturier.store.cards`), on SQLite and on a real
PostgreSQL, over the fixture repository: after every change of an image or its builds (create,
a build queued and finished, an edit that skips a line, a line failing, a delete) each stored
card equals the card made from the rows as the gallery made it before the cards were stored
(the ORM's image, newest build, newest finished build and its lines), ``GET /v1/images``
answers exactly those cards, and its body is what the documented ``ImageList`` model gives.
Images made before the cards' migration get theirs from it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from couturier.api.app import create_app
from couturier.api.images_models import ImageList
from couturier.services import tokens as token_service
from couturier.services.installation import Installation
from couturier.store.cards import ImageCard, card_json, refresh_cards
from couturier.store.database import _MIGRATIONS
from couturier.store.images import TenantImages
from couturier.store.models import Build, Image
from tests.test_images_api import SPEC, bearer, finished, repo, site  # noqa: F401


def cards_from_rows(installation: Installation) -> dict[str, dict[str, Any]]:
    """Every stored card of tenant 1, after checking that it equals the card made from the
    rows through the ORM in the same transaction; by image name."""
    with installation.store.unit() as uow:
        stored = {
            row.name: json.loads(row.card)
            for row in uow.session.scalars(select(ImageCard).where(ImageCard.tenant_id == 1))
        }
        repo = TenantImages(uow.session, 1)
        images = repo.images(500).items
        ids = [image.id for image in images]
        last = repo.latest_builds(ids, finished=False)
        done = repo.latest_builds(ids, finished=True)
        lines = repo.lines([build.id for build in done.values()])
        computed = {
            image.name: card_json(image, last.get(image.id), done.get(image.id), lines)
            for image in images
        }
    assert stored == computed
    return computed


def gallery_agrees(
    client: TestClient, headers: dict[str, str], installation: Installation
) -> list[Any]:
    """The gallery's cards, once checked against the rows and the documented model."""
    cards = cards_from_rows(installation)
    answer = client.get("/v1/images", headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body == {"items": [cards[name] for name in sorted(cards)], "next": None}
    # The cards carry no change records (GET of one build does): unset fields stay out.
    assert ImageList.model_validate(body).model_dump(mode="json", exclude_unset=True) == body
    items: list[Any] = body["items"]
    return items


def run_builds(installation: Installation, headers: dict[str, str], trace: str) -> dict[str, Any]:
    """Run the queued builds until ``trace`` has ended: its build."""
    with TestClient(create_app(installation, workers=1)) as runner:
        return finished(runner, headers, trace)


def test_the_stored_cards_follow_every_change_of_an_image_and_its_builds(
    site: Installation,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site, workers=0)) as client:
        trace = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]["trace_id"]
        other = {**SPEC, "name": "another", "description": "ünïcode ✓"}
        assert client.post("/v1/images", json=other, headers=writer).status_code == 202
        (_, card) = gallery_agrees(client, writer, site)
        assert card["build"] == {"trace_id": trace, "status": "in progress"}
        assert card["lines"] == []

        assert run_builds(site, writer, trace)["status"] == "created"
        card = gallery_agrees(client, writer, site)[1]
        assert [(line["line"], line["status"]) for line in card["lines"]] == [
            ("1", "created"),
            ("2", "created"),
        ]
        assert card["lines"][0]["sbom"]["spdx"].startswith("/v1/images/1/my-tool/lines/1/")

        # An edit: the card shows the new build in progress and the last finished one's lines.
        edited = {**SPEC, "description": "with extra", "packages": ["extra"]}
        answer = client.put("/v1/images/1/my-tool", json=edited, headers=writer)
        assert answer.status_code == 202, answer.text
        trace = answer.json()["build"]["trace_id"]
        card = gallery_agrees(client, writer, site)[1]
        assert (card["description"], card["build"]["status"]) == ("with extra", "in progress")
        assert len(card["lines"]) == 2
        build = run_builds(site, writer, trace)
        assert build["status"] == "some lines created"
        card = gallery_agrees(client, writer, site)[1]
        skipped = card["lines"][1]
        assert (skipped["status"], skipped["sbom"], skipped["digest"]) == ("skipped", None, None)
        assert skipped["problem"]["code"]

        # A rebuild whose lines fail inside Couturier.
        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug")

        monkeypatch.setattr("couturier.services.build.build", broken)
        answer = client.post("/v1/images/1/my-tool/builds", headers=writer)
        trace = answer.json()["build"]["trace_id"]
        assert gallery_agrees(client, writer, site)[1]["build"]["status"] == "in progress"
        assert run_builds(site, writer, trace)["status"] == "image build failed"
        card = gallery_agrees(client, writer, site)[1]
        assert {line["problem"]["code"] for line in card["lines"]} == {"internal"}

        assert client.delete("/v1/images/1/my-tool", headers=writer).status_code == 204
        assert [card["name"] for card in gallery_agrees(client, writer, site)] == ["1/another"]
        with site.store.unit() as uow:
            assert len(uow.session.scalars(select(ImageCard)).all()) == 1


def test_images_made_before_the_cards_get_theirs_from_the_migration(
    site: Installation,  # noqa: F811
) -> None:
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site, workers=0)) as client:
        assert client.post("/v1/images", json=SPEC, headers=writer).status_code == 202
    before = cards_from_rows(site)
    engine = create_engine(site.store.engine.url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(
            config, str(ScriptDirectory.from_config(config).get_revision("0002").down_revision)
        )
    with engine.begin() as connection:  # an image edited meanwhile by an older Couturier
        later = dt.datetime(2030, 1, 2, tzinfo=dt.UTC)
        connection.execute(Image.__table__.update().values(updated_at=later))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()
    after = cards_from_rows(site)
    assert after["my-tool"] == {**before["my-tool"], "updated": "2030-01-02T00:00:00+00:00"}


def test_two_transactions_changing_one_image_at_once_leave_its_card_whole(
    site: Installation,  # noqa: F811
) -> None:
    """An edit has made the image's card but not committed yet when a build's result is
    recorded: the build's transaction waits for the edit's (it locks the image's row before
    reading what the card is made of), so the card it makes has both changes. Without that
    lock it would read the image before the edit and then find the edit's card in its way.
    On SQLite the second writer waits at its start instead (one writer at a time)."""
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site, workers=0)) as client:
        assert client.post("/v1/images", json=SPEC, headers=writer).status_code == 202
    editing, recorded = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def record_the_build() -> None:
        try:
            editing.wait(30)
            with site.store.unit(write=True) as uow:
                (build,) = uow.session.scalars(select(Build))
                build.status, build.finished_at = "image build failed", site.clock()
        except BaseException as error:  # reported by the test's thread
            failures.append(error)
        finally:
            recorded.set()

    other = threading.Thread(target=record_the_build)
    other.start()
    with site.store.unit(write=True) as uow:
        image = uow.session.scalars(select(Image)).one()
        image.description = "edited meanwhile"
        uow.session.flush()  # the image's row is the edit's until it commits
        refresh_cards(uow.session.connection(), [image.id])  # its card too (and at commit)
        editing.set()
        # Time for the build's transaction to reach the card (and wait there); if it has
        # not by then, it makes the card after the edit's commit all the same.
        recorded.wait(0.5)
    other.join(30)
    assert not failures
    card = cards_from_rows(site)["my-tool"]
    assert card["description"] == "edited meanwhile"
    assert card["build"]["status"] == "image build failed"
