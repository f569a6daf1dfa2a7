"""The OpenAPI document as clients and the docs UI see it.

Routes that validate their raw body themselves (for speed) declare
`openapi_extra=request_body(Model)`; `install_openapi` adds the models' schemas to the
document's components so the docs UI and clients see them. It also names the tags and,
since every error body of this API is JSON, documents each 4xx/5xx as `application/json`
even on a route whose success is another media type (the event stream).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"

TAGS: list[dict[str, Any]] = [
    {
        "name": "clicks",
        "description": "Click events from the support site's web servers "
        "(scope `ingest`). A 202 means the events are durably buffered.",
    },
    {
        "name": "paths",
        "description": "Sessionized paths and their metrics: path length mean "
        "and variance of resolved paths, resolution and turnaround rates, pages by turnaround "
        "z-score, the timeline and the most common paths (scope `read`).",
    },
    {"name": "stream", "description": "Live metrics as Server-Sent Events (scope `read`)."},
    {
        "name": "help desk",
        "description": "Ticket, message, status and rating events from "
        "the help desk, in any order and any number of times (scope `ingest`).",
    },
    {
        "name": "reports",
        "description": "The ticket reports over the help-desk events "
        "(scope `read`); times are hours, dates are UTC.",
    },
    {
        "name": "experiments",
        "description": "Variant against baseline with intervals, p-values, verdicts and a "
        "sample-ratio check (scope `read`).",
    },
    {
        "name": "pages",
        "description": "Page names shown instead of bare ids: `PUT` needs scope "
        "`admin`, `GET` scope `read`.",
    },
    {"name": "admin", "description": "API key management (scope `admin`)."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
]


class FieldError(BaseModel):
    """One rejected field; `loc` is its place in the request, e.g. `["body", "events", 3,
    "timestamp"]`; `input` repeats the rejected value when it is short."""

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None


class ValidationErrorOut(BaseModel):
    """Bad input: every bad field is listed; nothing of the request was stored."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": [
                        {
                            "type": "missing",
                            "loc": ["body", "events", 3, "timestamp"],
                            "msg": "Field required",
                        }
                    ]
                }
            ]
        }
    )

    detail: list[FieldError]


_CLICK = {"timestamp": 1515764691, "customer_id": 1, "source_page_id": 11}
BODY_EXAMPLES: dict[str, dict[str, Any]] = {
    "ClickBatchIn": {
        "seed": {
            "summary": "Customer 1 resolves after three clicks; customer 2 starts in variant B",
            "value": {
                "events": [
                    {**_CLICK, "target_page_id": 28},
                    {**_CLICK, "timestamp": 1515764700, "source_page_id": 28, "target_page_id": 35},
                    {
                        **_CLICK,
                        "timestamp": 1515764710,
                        "source_page_id": 35,
                        "target_page_id": 42,
                        "is_resolved": True,
                    },
                    {
                        "timestamp": 1515764695,
                        "customer_id": 2,
                        "source_page_id": 11,
                        "target_page_id": 35,
                        "variant": "B",
                        "event_id": "3f1c1c6e-2b7a-4d8e-9a51-0c0f4a0e6b1d",
                    },
                ]
            },
        }
    },
    "SupportBatchIn": {
        "ticket": {
            "summary": "A customer, an agent and one ticket from opening to rating",
            "value": {
                "events": [
                    {
                        "type": "customer.upserted",
                        "customer_id": 7,
                        "first_name": "Ada",
                        "last_name": "Lovelace",
                        "email": "ada@example.com",
                    },
                    {
                        "type": "agent.upserted",
                        "agent_id": 3,
                        "first_name": "Grace",
                        "last_name": "Hopper",
                    },
                    {
                        "type": "ticket.opened",
                        "ticket_id": 1,
                        "customer_id": 7,
                        "category": "Bug report",
                        "timestamp": 1515764691,
                    },
                    {
                        "type": "message.sent",
                        "message_id": 10,
                        "ticket_id": 1,
                        "sender_type": "customer",
                        "sender_id": 7,
                        "timestamp": 1515764700,
                        "text": "The export button does nothing.",
                    },
                    {
                        "type": "message.sent",
                        "message_id": 11,
                        "ticket_id": 1,
                        "sender_type": "agent",
                        "sender_id": 3,
                        "timestamp": 1515768300,
                        "text": "Fixed: please try again.",
                    },
                    {
                        "type": "ticket.resolved",
                        "ticket_id": 1,
                        "agent_id": 3,
                        "timestamp": 1515768400,
                    },
                    {"type": "ticket.rated", "ticket_id": 1, "rating": 5, "timestamp": 1515768500},
                ]
            },
        }
    },
}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}
    if model.__name__ in BODY_EXAMPLES:
        media["examples"] = BODY_EXAMPLES[model.__name__]
    return {"requestBody": {"required": True, "content": {"application/json": media}}}


def errors_as_json(schema: dict[str, Any]) -> None:
    """Every error response's body is documented as JSON, whatever the route's success is."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                if status[0] not in "45" or not content:
                    continue
                schemas = [media.get("schema") for media in content.values()]
                response["content"] = {"application/json": {"schema": schemas[0] or {}}}


def install_openapi(app: FastAPI, body_models: Sequence[type[BaseModel]]) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=TAGS,
            )
            _, defs = models_json_schema(
                [(m, "validation") for m in body_models], ref_template=REF_TEMPLATE
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, model_schema in defs.get("$defs", {}).items():
                components.setdefault(name, model_schema)
            errors_as_json(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
