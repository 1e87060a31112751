"""schemathesis against the API's own OpenAPI document (in process), with requests that match
it and requests that break it: whatever a client sends, no ``500``, and every answer matches the
document. Authenticated as an admin of a tenant entitled to the fixture starter ``tiny`` alone
(test_plan's repository, no network), so every route is reached past its token check and the
ones that read catalogs (plans, packages, a starter's lines, a private image's spec checks)
read the fixture's. The application runs no build worker: an image made is queued, not built."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import schemathesis
import yaml
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from couturier.api.app import create_app
from couturier.services import tokens as token_service
from couturier.services.installation import create_tenant, entitle, open_installation
from tests.fixture_repo import SigningKey
from tests.test_build import STARTER_DOC, settings_in
from tests.test_plan import plan_repo  # noqa: F401 - the module's fixture repository


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    plan_repo: Path,  # noqa: F811 - the fixture imported above
    signing_key: SigningKey,
) -> Iterator[tuple[FastAPI, str]]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    settings = settings_in(root / "env", plan_repo, signing_key)
    (root / "starters").mkdir()
    (root / "starters" / "tiny.yaml").write_text(yaml.safe_dump(STARTER_DOC))
    installation, _ = open_installation(replace(settings, starters_dir=root / "starters"))
    try:
        tenant = create_tenant(installation, "fuzz")
        entitle(installation, tenant.id, ["tiny"])
        token = token_service.issue_token(installation, tenant.id, "admin").token
        yield create_app(installation), token
    finally:
        installation.close()


def test_no_input_gets_a_500_and_answers_match_the_document(
    served: tuple[FastAPI, str],
) -> None:
    application, token = served
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", application)
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()
        fuzzed.append(operation.path)

        strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]

        @given(case=st.one_of(strategies))
        @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"},
                # What is checked is no 500 and answers as documented. Not checked: that
                # every value the document allows is accepted (a cursor is opaque: the
                # document says its alphabet, not which values a list gave) or that every
                # value it does not allow is refused (unknown query parameters are ignored,
                # as HTTP APIs do).
                excluded_checks=[positive_data_acceptance, negative_data_rejection],
            )

        call()
    assert {"/v1/tokens", "/v1/plan", "/v1/packages", "/v1/bundles/{bundle}", "/metrics"} <= set(
        fuzzed
    )
