"""The console's own static files are named by fingerprinted URLs
(``/static/console/<version>/<path>``, :mod:`couturier.web.assets`) and answered with a year's
immutable caching, so a gallery load asks nothing again of the server but its HTML; the
version follows every file's content; the plain URLs still answer, revalidated. In process."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from couturier.services import tokens as token_service
from couturier.services.installation import Installation
from couturier.web.app import IMMUTABLE
from couturier.web.assets import STATIC_VERSION, static_version
from tests.test_console_api import sign_in
from tests.test_images_api import client, repo, site

__all__ = ["client", "repo", "site"]  # the fixtures this module takes


def test_a_page_names_its_static_files_by_fingerprinted_urls_kept_for_a_year(
    site: Installation, client: TestClient
) -> None:
    sign_in(client, token_service.issue_token(site, 1, "write").token)
    html = client.get("/").text
    urls = re.findall(r'(?:href|src)="(/static/console/[^"]+)"', html)
    assert {url.rsplit("/", 1)[1] for url in urls} >= {"console.css", "console.js"}
    for url in urls:
        assert url.startswith(f"/static/console/{STATIC_VERSION}/")
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == IMMUTABLE
    # The wizard's modules import each other relatively: under the same version.
    wizard = re.findall(r'src="(/static/console/[^"]+)"', client.get("/create").text)
    assert f"/static/console/{STATIC_VERSION}/wizard/main.js" in wizard
    assert client.get(f"/static/console/{STATIC_VERSION}/wizard/dom.js").status_code == 200
    plain = client.get("/static/console/console.css")
    assert plain.status_code == 200 and "immutable" not in plain.headers.get("cache-control", "")
    assert client.get("/static/console/0000000000000000/console.css").status_code == 404
    assert client.get(f"/static/console/{STATIC_VERSION}/../app.py").status_code == 404


def test_the_version_follows_every_files_name_and_content(tmp_path: Path) -> None:
    (tmp_path / "wizard").mkdir()
    (tmp_path / "console.css").write_text("a {}")
    (tmp_path / "wizard" / "main.js").write_text("1")
    first = static_version(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert static_version(tmp_path) == first
    (tmp_path / "wizard" / "main.js").write_text("2")
    changed = static_version(tmp_path)
    assert changed != first
    (tmp_path / "wizard" / "main.js").rename(tmp_path / "wizard" / "other.js")
    assert static_version(tmp_path) not in (first, changed)
