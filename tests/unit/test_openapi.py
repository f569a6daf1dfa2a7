"""The OpenAPI document as an SDK generator and the docs UI read it (issue 19)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from helpstream.api.app import create_app
from helpstream.api.models import ClickBatchIn
from helpstream.api.models_support import SupportBatchIn
from helpstream.api.openapi import BODY_EXAMPLES
from helpstream.settings import Settings

INGEST = ["/v1/clicks", "/v1/clicks/batch", "/v1/support-events", "/v1/support-events/batch"]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    app = create_app(Settings(database_url="postgresql://unused", redis_url="redis://unused"))
    return app.openapi()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in schema["paths"].items() for m, op in ops.items()]


def test_operation_ids_are_short_unique_and_start_with_a_verb(schema: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(schema)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert operation_id.split("_")[0] in {"get", "post", "put", "delete", "list"}
        assert "v1" not in operation_id, operation_id
    assert {"post_click", "post_click_batch", "list_paths", "get_path_metrics"} <= set(ids)


def test_every_ingest_route_documents_413_422_and_503_with_retry_after(
    schema: dict[str, Any],
) -> None:
    for path in INGEST:
        responses = schema["paths"][path]["post"]["responses"]
        for status in ("413", "422", "503"):
            assert "schema" in responses[status]["content"]["application/json"], (path, status)
        assert "Retry-After" in responses["503"]["headers"], path
        assert "Retry-After" in responses["429"]["headers"], path


def test_both_batch_bodies_have_examples_that_validate() -> None:
    ClickBatchIn.model_validate(BODY_EXAMPLES["ClickBatchIn"]["seed"]["value"])
    SupportBatchIn.model_validate(BODY_EXAMPLES["SupportBatchIn"]["ticket"]["value"])


def test_batch_routes_show_their_examples(schema: dict[str, Any]) -> None:
    for path in ("/v1/clicks/batch", "/v1/support-events/batch"):
        media = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert media["examples"], path


def test_error_bodies_are_json_everywhere(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        for status, response in op["responses"].items():
            if status[0] in "45" and "content" in response:
                assert list(response["content"]) == ["application/json"], (method, path, status)


def test_stream_events_are_documented_as_objects_with_json_data(schema: dict[str, Any]) -> None:
    media = schema["paths"]["/v1/metrics/stream"]["get"]["responses"]["200"]["content"]
    assert media["text/event-stream"]["schema"]["type"] == "object"
    events = media["text/event-stream"]["schema"]["oneOf"]
    assert {e["properties"]["event"]["const"] for e in events} == {"paths", "pages", "reports"}
    for event in events:
        ref = event["properties"]["data"]["contentSchema"]["$ref"]
        assert ref.removeprefix("#/components/schemas/") in schema["components"]["schemas"]


def test_tags_are_described_and_no_document_outside_the_repository_is_cited(
    schema: dict[str, Any],
) -> None:
    described = {t["name"] for t in schema["tags"] if t["description"]}
    used = {tag for _, _, op in operations(schema) for tag in op.get("tags", [])}
    assert used <= described
    text = json.dumps(schema, ensure_ascii=False)
    for outside in ("contract", "§", "seeds/", "design-notes"):
        assert outside not in text, outside


def test_every_schema_reference_resolves(schema: dict[str, Any]) -> None:
    """A `$ref` to a schema missing from components breaks ReDoc ("Invalid reference token")."""
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert refs - set(schema["components"]["schemas"]) == set()
