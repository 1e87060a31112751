"""What the console needs of the service, without a browser: sessions opened with a token
and ended by sign-out, expiry or the token's revocation; the ``/v1`` routes taking a session
cookie (a CSRF token on unsafe methods, the token's scope as with a bearer token); sign-in
going back only to pages of this site; and the layers of a created line
(``GET /v1/images/{t}/{n}/lines/{line}/layers``), per tenant. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from couturier.services import sessions as session_service
from couturier.services import tokens as token_service
from couturier.services.installation import Installation, create_tenant, entitle
from couturier.web.signin import safe_next
from tests.test_images_api import SPEC, client, finished, repo, site, writer
from tests.test_starter_lines import _built

__all__ = ["client", "repo", "site", "writer"]  # the fixtures this module takes


def sign_in(client: TestClient, token: str, next: str = "/") -> Any:
    """Sign in through the form as a browser does: the form's value and its cookie."""
    form = client.get("/sign-in")
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
    assert found, form.text
    return client.post(
        "/sign-in",
        data={"token": token, "csrf_token": found[1], "next": next},
        follow_redirects=False,
    )


def test_a_session_ends_with_its_tokens_revocation_and_at_its_expiry(
    site: Installation, client: TestClient
) -> None:
    issued = token_service.issue_token(site, 1, "write")
    answer = sign_in(client, issued.token, "/images/1/x")
    assert (answer.status_code, answer.headers["location"]) == (303, "/images/1/x")
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert client.get("/v1/images").status_code == 200  # the cookie alone

    token_service.revoke_token(
        site, token_service.authenticate(site, issued.token, "pull"), issued.info.id
    )
    answer = client.get("/v1/images")
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "token-revoked")
    page = client.get("/?q=x", follow_redirects=False)
    assert page.headers["location"] == "/sign-in?next=/%3Fq%3Dx&reason=revoked"

    other = token_service.issue_token(site, 1, "pull")
    opened = session_service.open_session(site, other.token)
    assert opened.expires - site.clock() <= session_service.SESSION_LIFETIME
    later = site.clock() + session_service.SESSION_LIFETIME + dt.timedelta(seconds=1)
    expired = Installation(site.settings, site.store, site.key, clock=lambda: later)
    with pytest.raises(Exception, match="the session has expired"):
        session_service.session_principal(expired, opened.secret, "pull")
    assert "secret" not in repr(opened) and opened.secret not in repr(opened)


def test_v1_takes_the_cookie_with_the_tokens_scope_and_a_csrf_token_on_unsafe_methods(
    site: Installation, client: TestClient
) -> None:
    reader = token_service.issue_token(site, 1, "pull")
    assert sign_in(client, reader.token).status_code == 303
    csrf = session_service.csrf_token(client.cookies["couturier_session"])
    answer = client.post("/v1/images", json=SPEC)
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "csrf-invalid")
    answer = client.post("/v1/images", json=SPEC, headers={"X-CSRF-Token": "0" * 64})
    assert answer.json()["error"]["code"] == "csrf-invalid"
    answer = client.post("/v1/images", json=SPEC, headers={"X-CSRF-Token": csrf})
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "scope-too-low")
    # a bearer token needs no CSRF token: no browser sends it by itself
    bearer = token_service.issue_token(site, 1, "write").token
    answer = client.post("/v1/images", json=SPEC, headers={"Authorization": f"Bearer {bearer}"})
    assert answer.status_code == 202, answer.text


def test_sign_in_refuses_a_form_without_its_value_and_goes_back_only_to_this_site(
    site: Installation, client: TestClient
) -> None:
    issued = token_service.issue_token(site, 1, "write")
    answer = client.post("/sign-in", data={"token": issued.token, "csrf_token": "x"})
    assert answer.status_code == 403 and "couturier_session" not in client.cookies
    assert "The sign-in form had expired" in answer.text
    assert issued.token not in answer.text  # a refused token is not echoed back
    for hostile in ("//evil.example/", "/\\evil.example", "https://evil.example/", "x"):
        assert safe_next(hostile) == "/"
    answer = sign_in(client, issued.token, "//evil.example/")
    assert answer.headers["location"] == "/"
    form = client.get("/sign-in?next=/bundles")
    assert 'name="next" value="/bundles"' in form.text
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
    assert form.headers["x-frame-options"] == "DENY"


def test_the_layers_of_a_line_say_their_role_and_size_to_its_tenant_only(
    site: Installation, client: TestClient, writer: dict[str, str]
) -> None:
    accepted = client.post("/v1/images", json=SPEC, headers=writer).json()
    assert finished(client, writer, accepted["build"]["trace_id"])["status"] == "created"
    # The first private image of a starter has the starter's lines built after it: once they
    # are, the layers name the starter image beside the private one.
    assert _built(client, writer, "2")["build"]["status"] == "built"
    answer = client.get("/v1/images/1/my-tool/lines/2/layers", headers=writer)
    assert answer.status_code == 200, answer.text
    layers = answer.json()
    assert (layers["line"], layers["arch"]) == ("2", "amd64")
    assert [layer["role"] for layer in layers["layers"]] == ["starter", "generated"]
    assert layers["layers"][0]["created_by"].startswith("tiny 2 packages")
    assert layers["size"] == sum(layer["size"] for layer in layers["layers"]) > 0
    starter = layers["starter"]
    assert starter["image"] == "starters/tiny:2" and starter["manifest"].startswith("sha256:")
    assert starter["layers"][0]["role"] == "starter"
    answer = client.get("/v1/images/1/my-tool/lines/9/layers", headers=writer)
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "line-not-found")

    other = create_tenant(site, "other")
    entitle(site, other.id, ["tiny"])
    theirs = {"Authorization": f"Bearer {token_service.issue_token(site, other.id, 'write').token}"}
    answer = client.get("/v1/images/1/my-tool/lines/2/layers", headers=theirs)
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "image-not-found")
