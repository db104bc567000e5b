"""What the OpenAPI document says beyond Litestar's defaults: operation ids that read well, and
request bodies that refuse unknown fields saying so (``additionalProperties: false``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.plugins.pydantic import PydanticInitPlugin, PydanticSchemaPlugin
from litestar.typing import FieldDefinition
from pydantic import RootModel


def operation_id(handler: HTTPRouteHandler, method: Any, path: list[Any]) -> str:
    """The handler's own name (``send_message``, ``get_session``): each is unique in the app."""
    return handler.handler_name


class StrictBodiesSchemaPlugin(PydanticSchemaPlugin):
    """Litestar's pydantic schemas, with ``additionalProperties: false`` where the model forbids
    extra fields, as the server does (422 for an unknown field)."""

    @classmethod
    def for_pydantic_model(cls, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        """The component schema of a model; a RootModel is its root's schema (the body is the
        union itself, not an object with a ``root`` field)."""
        model = field_definition.annotation
        if isinstance(model, type) and issubclass(model, RootModel):
            root = FieldDefinition.from_annotation(model.model_fields["root"].annotation)
            return cast(Schema, schema_creator.for_field_definition(root))
        schema = super().for_pydantic_model(field_definition, schema_creator)
        if getattr(model, "model_config", {}).get("extra") == "forbid":
            schema.additional_properties = False
        return schema


def _object(properties: dict[str, Schema | Reference], title: str) -> Schema:
    return Schema(type=OpenAPIType.OBJECT, properties=properties, required=sorted(properties), title=title)


@dataclass
class QrOperation(Operation):
    """``GET .../qr`` answers in the content type ``?format=`` asks for: all four are documented."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if not isinstance(ok, OpenAPIResponse):
            return
        string = Schema(type=OpenAPIType.STRING)
        raw = _object(
            {"value": string, "index": Schema(type=OpenAPIType.INTEGER),
             "expires_at": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME)},
            "QrRaw",
        )  # fmt: skip
        data_url = _object({"data_url": string}, "QrDataUrl")
        ok.description = "the QR code: PNG (`format=image`), SVG (`svg`), or JSON (`raw`, `base64`)"
        ok.content = {
            "image/png": OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
            ),
            "image/svg+xml": OpenAPIMediaType(schema=string),
            "application/json": OpenAPIMediaType(schema=Schema(one_of=[raw, data_url])),
        }


@dataclass
class CsvBodyOperation(Operation):
    """A route whose body is a CSV file (read raw, so Litestar's JSON decoding is not involved)."""

    def __post_init__(self) -> None:
        csv_json = Schema(
            type=OpenAPIType.OBJECT, properties={"csv": Schema(type=OpenAPIType.STRING)}, required=["csv"],
            additional_properties=False, title="CsvImport",
        )  # fmt: skip
        self.request_body = RequestBody(
            content={
                "application/json": OpenAPIMediaType(schema=csv_json),
                "text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
            },
            description='UTF-8 CSV with a header line, as text/csv or as JSON {"csv": "..."}',
            required=True,
        )


@dataclass
class OptionalBodyOperation(Operation):
    """A route whose JSON body may be left out (``POST /api/v1/billing/checkout`` with none pays
    the current plan): Litestar would mark it required."""

    def __post_init__(self) -> None:
        if self.request_body is not None and not isinstance(self.request_body, Reference):
            self.request_body.required = False


class FieldStrictInitPlugin(PydanticInitPlugin):
    """Litestar's pydantic decoding, leaving strictness to each field (``StrictBool`` refuses
    ``0`` for a switch). Litestar passes ``strict=False``, which overrides field-level strict."""

    @classmethod
    def decoders(
        cls, validate_strict: bool = False
    ) -> list[tuple[Callable[[Any], bool], Callable[[Any, Any], Any]]]:
        """Litestar's decoders with ``strict=None`` (the models' own settings)."""
        found = super().decoders(validate_strict)
        return [
            (predicate, partial(decode.func, *decode.args, **{**decode.keywords, "strict": None}))
            if isinstance(decode, partial) and "strict" in decode.keywords
            else (predicate, decode)
            for predicate, decode in found
        ]
