"""avro and protobuf responses: real encoded payloads decoded with the schema in outputSchema."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from naftiko.errors import SpecError
from tests.support.engine_harness import Answer, gateway, plan_for, scripted_app, write_spec
from tests.support.servers import Recorder, serve_app

AVRO_SCHEMA = {
    "type": "record",
    "name": "Records",
    "fields": [
        {
            "name": "records",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Rec",
                    "fields": [
                        {"name": "id", "type": "string"},
                        {"name": "title", "type": "string"},
                        {"name": "score", "type": "double"},
                    ],
                },
            },
        }
    ],
}
RECORDS = {"records": [{"id": "r1", "title": "One", "score": 1.5}]}


def _avro_datum() -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(AVRO_SCHEMA), RECORDS)
    return out.getvalue()


def _avro_file() -> bytes:
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(AVRO_SCHEMA), [RECORDS])
    return out.getvalue()


def _descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    file = descriptor_pb2.FileDescriptorProto(name="recs.proto", package="demo", syntax="proto3")
    rec = file.message_type.add(name="Rec")
    rec.field.add(name="id", number=1, type=9, label=1)  # string
    rec.field.add(name="title", number=2, type=9, label=1)
    rec.field.add(name="count", number=3, type=5, label=1)  # int32
    records = file.message_type.add(name="Records")
    records.field.add(name="records", number=1, type=11, label=3, type_name=".demo.Rec")
    return descriptor_pb2.FileDescriptorSet(file=[file])


def _protobuf_payload() -> bytes:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_descriptor_set().file[0])
    # A class built at run time from the descriptor: its fields are unknown to the checker.
    message: Any = message_factory.GetMessageClass(pool.FindMessageTypeByName("demo.Records"))()
    rec = message.records.add()
    rec.id, rec.title, rec.count = "p1", "Proto", 3
    payload: bytes = message.SerializeToString()
    return payload


def _spec(folder: Path, base: str, fmt: str, schema: str | None) -> Path:
    op: dict[str, Any] = {"name": "get", "method": "GET", "path": f"/{fmt}", "outputRawFormat": fmt}
    if schema is not None:
        op["outputSchema"] = schema
    document = {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "exposes": [
                {
                    "type": "rest",
                    "port": 0,
                    "namespace": "t",
                    "resources": [
                        {
                            "path": "/r",
                            "name": "r",
                            "operations": [
                                {
                                    "method": "GET",
                                    "call": "up.get",
                                    "outputParameters": [
                                        {
                                            "name": "first",
                                            "type": "string",
                                            "mapping": "$.records[0].title",
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
            "consumes": [
                {
                    "type": "http",
                    "namespace": "up",
                    "baseUri": base,
                    "resources": [{"name": "r", "path": "/", "operations": [op]}],
                }
            ],
        },
    }
    return write_spec(folder, document)


@pytest.mark.parametrize(
    ("fmt", "schema", "body", "expected"),
    [
        ("avro", "recs.avsc", _avro_datum(), "One"),
        ("avro", "recs.avsc", _avro_file(), "One"),
        ("protobuf", "recs.desc", _protobuf_payload(), "Proto"),
        ("protobuf", "recs.desc#demo.Records", _protobuf_payload(), "Proto"),
    ],
)
async def test_binary_responses_are_decoded_with_their_schema_and_mapped(
    tmp_path: Path, fmt: str, schema: str, body: bytes, expected: str
) -> None:
    (tmp_path / "recs.avsc").write_text(json.dumps(AVRO_SCHEMA))
    (tmp_path / "recs.desc").write_bytes(_descriptor_set().SerializeToString())
    answers: dict[str, Answer] = {f"/{fmt}": (200, body, "application/octet-stream")}
    with serve_app(scripted_app(Recorder(), answers)) as base:
        async with gateway(_spec(tmp_path, base, fmt, schema)) as gw:
            result = await gw.call(gw.operation("GET", "/r"), {})
    assert result.body == expected  # a single output is the body itself (§4.4)


async def test_a_body_that_does_not_match_the_schema_is_a_502_mapping_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "recs.avsc").write_text(json.dumps(AVRO_SCHEMA))
    answers: dict[str, Answer] = {"/avro": (200, b"\x02", "application/octet-stream")}
    with serve_app(scripted_app(Recorder(), answers)) as base:
        async with gateway(_spec(tmp_path, base, "avro", "recs.avsc")) as gw:
            with pytest.raises(Exception, match="cannot be decoded") as caught:
                await gw.call(gw.operation("GET", "/r"), {})
    assert type(caught.value).__name__ == "MappingError"


@pytest.mark.parametrize(
    ("fmt", "schema", "message"),
    [
        ("avro", None, "outputRawFormat avro needs an outputSchema"),
        ("avro", "missing.avsc", "cannot read outputSchema"),
        ("protobuf", "recs.proto", "is .proto source: give the compiled descriptor set"),
        ("protobuf", "recs.desc#demo.Nope", "has no message 'demo.Nope'"),
    ],
)
def test_a_missing_or_unusable_schema_is_refused_at_start(
    tmp_path: Path, fmt: str, schema: str | None, message: str
) -> None:
    (tmp_path / "recs.desc").write_bytes(_descriptor_set().SerializeToString())
    with pytest.raises(SpecError) as caught:
        plan_for(_spec(tmp_path, "http://127.0.0.1:9", fmt, schema))
    assert caught.value.location.line > 0
    assert message in str(caught.value)


def test_an_html_selector_this_runtime_cannot_read_is_refused_at_start(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "http://127.0.0.1:9", "html", "div > table")
    with pytest.raises(SpecError) as caught:
        plan_for(spec)
    assert caught.value.location.path.endswith("operations[0].outputSchema")
    assert "selector 'div > table' is not supported" in str(caught.value)
