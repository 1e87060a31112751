"""The console's actions routes without a browser: each form needs the page's CSRF token;
another tenant's action is not on the page and its deliveries, test and delete are a 404
that leaves it alone; the form's fields become the body ``POST /v1/actions`` takes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from couturier.services import actions as action_service
from couturier.services import sessions as session_service
from couturier.services import tokens as token_service
from couturier.services.installation import Installation, create_tenant
from couturier.web.actions_page import form_body
from tests.test_console_api import sign_in
from tests.test_images_api import client, repo, site

__all__ = ["client", "repo", "site"]  # the fixtures this module takes


def test_another_tenants_action_is_a_404_on_every_route_and_forms_need_the_csrf_token(
    site: Installation, client: TestClient
) -> None:
    other = create_tenant(site, "other")
    theirs = action_service.create_action(
        site,
        token_service.authenticate(
            site, token_service.issue_token(site, other.id, "admin").token, "admin"
        ),
        {"name": "their-hook", "events": ["line-failed"], "then": {"kind": "email", "to": "a@b.c"}},
    )
    assert sign_in(client, token_service.issue_token(site, 1, "admin").token).status_code == 303
    csrf = session_service.csrf_token(client.cookies["couturier_session"])

    listed = client.get("/actions")
    assert listed.status_code == 200 and "their-hook" not in listed.text
    assert client.get(f"/actions/{theirs['id']}/deliveries").status_code == 404
    for verb in ("test", "delete"):
        answer = client.post(f"/actions/{theirs['id']}/{verb}", data={"csrf_token": csrf})
        assert answer.status_code == 404 and "you have no action" in answer.text
        answer = client.post(f"/actions/{theirs['id']}/{verb}", data={"csrf_token": "0" * 64})
        assert answer.status_code == 403 and "CSRF" in answer.text
    owner = token_service.authenticate(
        site, token_service.issue_token(site, other.id, "write").token, "write"
    )
    assert action_service.get_action(site, owner, str(theirs["id"]))["name"] == "their-hook"

    form = {"name": "x", "events": ["line-failed"], "then.kind": "email", "then.to": "a@b.c"}
    answer = client.post("/actions", data=form, follow_redirects=False)
    assert answer.status_code == 403 and "CSRF" in answer.text
    answer = client.post("/actions", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/actions#action-")


def test_the_forms_fields_become_the_request_body_of_post_v1_actions() -> None:
    fields = {
        "name": "ops",
        "if.image": "web-*",
        "if.line": "",
        "end_of_life_days": "60",
        "then.kind": "email",
        "then.to": "a@example.org, b@example.org,",
        "then.url": "https://ignored.example.org/",  # another kind's field
    }
    assert form_body(fields, ["line-end-of-life"]) == {
        "name": "ops",
        "events": ["line-end-of-life"],
        "if": {"image": "web-*"},
        "end_of_life_days": 60,
        "then": {"kind": "email", "to": ["a@example.org", "b@example.org"]},
    }
    slack = form_body({"name": "s", "then.kind": "slack", "then.slack_url": "https://h/x"}, [])
    assert slack["then"] == {"kind": "slack", "url": "https://h/x"}
    # Days that are not a number stay text, so the API's rule names them.
    assert form_body({"end_of_life_days": "soon"}, [])["end_of_life_days"] == "soon"
