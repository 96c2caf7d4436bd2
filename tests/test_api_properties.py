"""The API tested from its own OpenAPI document (schemathesis, over real HTTP): inputs made
from the schema for every route, each answered without a server error and as the document
says (status code, content type, body). Bounded in examples, so the suite stays fast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from modemd.config import Config, ModemConfig, WebConfig
from modemd.members.registry import Registry
from modemd.operations.actor import Actor
from modemd.operations.tokens import SCOPES, add_token
from modemd.store.db import Database, open_database
from modemd.web.api.app import PREFIX, create_api
from modemd.web.app import create_app
from tests.web_support import serving

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    tmp: Path = tmp_path_factory.mktemp("api-properties")
    config = Config(
        modem=ModemConfig(port="sim://"), spool_dir=tmp / "spool", state_dir=tmp / "state",
        web=WebConfig(api_rate_per_minute=1_000_000),
    )
    db = open_database(config.state_dir)
    registry = Registry(db)
    for i in range(3):
        registry.add(f"061200000{i}", name=f"Tabac {i}", commune="Aurillac", sector="tabac")
    secret = add_token(db, "fuzz", SCOPES, Actor("system")).secret
    with serving(create_app(config, db)) as base:
        yield base + PREFIX, secret
    db.close()


def _document() -> dict[str, Any]:
    """The document the API serves, made from the code (no database is touched for it)."""
    return create_api(Config(), cast(Database, None)).openapi()


schema = schemathesis.openapi.from_dict(_document())


def test_the_served_document_is_the_one_tested(api: tuple[str, str]) -> None:
    base, _ = api
    served = httpx.get(base + "/openapi.json", timeout=10).json()
    assert served.pop("servers") == [{"url": PREFIX}]  # where it is mounted
    assert served == _document()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error_and_every_answer_as_documented(
    case: Any, api: tuple[str, str]
) -> None:
    base, secret = api
    case.call_and_validate(
        base_url=base,
        headers={"Authorization": f"Bearer {secret}"},
        # Input the schema allows can still be refused for what it says (a commune no member
        # has, a duration like "2x"): that is the alert file's validation, a 422 naming the
        # field, not a fault. And unknown query parameters are ignored, as HTTP APIs do.
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
    )
