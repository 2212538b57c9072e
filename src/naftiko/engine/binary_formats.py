"""`outputRawFormat: avro | protobuf`: binary bodies decoded with the schema in `outputSchema`.

Avro (fastavro): `outputSchema` is an `.avsc` JSON schema; the body is one record (the
reference engine reads a single record), or an object container file (`Obj\\x01…`, whose own
schema is used), which gives its one record or the list of them.

Protobuf (Google's own runtime): `outputSchema` is a compiled descriptor set
(`protoc --include_imports --descriptor_set_out=x.desc`), optionally `x.desc#pkg.Message`;
without a message name, the one message of the last file that no other message contains.
Fields keep their `.proto` names. A `.proto` source cannot be read without a compiler, so it
is refused at startup with that advice.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.protobuf import descriptor_pb2
    from google.protobuf.message import Message

# fastavro and protobuf (~45 ms of imports) are imported by the functions that use them: a
# spec without a binary format never loads them, and `naftiko run` starts that much sooner.

BINARY_FORMATS = frozenset({"avro", "protobuf"})


class SchemaProblem(ValueError):
    """The schema named in `outputSchema` cannot be used (reported at startup, located)."""


def check_schema(fmt: str, output_schema: str | None) -> None:
    """Load the schema now, so a missing or unusable one stops startup."""
    if not output_schema:
        raise SchemaProblem(f"outputRawFormat {fmt} needs an outputSchema (the schema file)")
    if fmt == "avro":
        _avro_schema(output_schema)
    else:
        _proto_class(output_schema)


def decode(fmt: str, raw: bytes, output_schema: str | None) -> Any:
    """Raises ValueError (the caller turns it into a MappingError) on a body that does not
    match the schema."""
    if not output_schema:
        raise ValueError(f"outputRawFormat {fmt} needs an outputSchema")
    return _avro(raw, output_schema) if fmt == "avro" else _protobuf(raw, output_schema)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SchemaProblem(f"cannot read outputSchema {path!r}: {exc.strerror}") from None


@lru_cache(maxsize=64)
def _avro_schema(path: str) -> Any:
    import fastavro

    try:
        return fastavro.parse_schema(json.loads(_read(path)))
    except (ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaProblem(f"outputSchema {path!r} is not an Avro schema: {exc}") from None


def _avro(raw: bytes, path: str) -> Any:
    import fastavro

    schema = _avro_schema(path)
    try:
        if raw.startswith(b"Obj\x01"):
            records = list(fastavro.reader(io.BytesIO(raw)))
            return _plain(records[0] if len(records) == 1 else records)
        buffer = io.BytesIO(raw)
        record = fastavro.schemaless_reader(buffer, schema, None)
    except (EOFError, StopIteration, OSError, IndexError, TypeError) as exc:
        raise ValueError(f"not an Avro record of this schema ({type(exc).__name__})") from None
    if buffer.tell() != len(raw):
        raise ValueError("not an Avro record of this schema (trailing bytes)")
    return _plain(record)


def _plain(value: Any) -> Any:
    """Avro bytes/decimals/dates → JSON values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@lru_cache(maxsize=64)
def _proto_class(schema: str) -> type[Message]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf.message import DecodeError

    path, _, wanted = schema.partition("#")
    if path.endswith(".proto"):
        raise SchemaProblem(
            f"outputSchema {path!r} is .proto source: give the compiled descriptor set "
            "(protoc --include_imports --descriptor_set_out=FILE.desc)"
        )
    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.ParseFromString(_read(path))
    except DecodeError:
        raise SchemaProblem(f"outputSchema {path!r} is not a protobuf descriptor set") from None
    if not files.file:
        raise SchemaProblem(f"outputSchema {path!r} is not a protobuf descriptor set")
    pool = descriptor_pool.DescriptorPool()
    try:
        for proto in files.file:
            pool.Add(proto)
    except TypeError as exc:
        raise SchemaProblem(f"outputSchema {path!r}: {exc}") from None
    wanted = wanted or _root_message(files, path)
    try:
        descriptor = pool.FindMessageTypeByName(wanted)
    except KeyError:
        raise SchemaProblem(f"outputSchema {path!r} has no message {wanted!r}") from None
    return message_factory.GetMessageClass(descriptor)


def _root_message(files: descriptor_pb2.FileDescriptorSet, path: str) -> str:
    """The one top-level message of the last file that no other message uses as a field."""
    last = files.file[-1]
    prefix = f"{last.package}." if last.package else ""
    used = {
        field.type_name.lstrip(".")
        for file in files.file
        for message in file.message_type
        for field in message.field
    }
    roots = [prefix + m.name for m in last.message_type if prefix + m.name not in used]
    if len(roots) != 1:
        found = ", ".join(roots) or "none"
        raise SchemaProblem(
            f"outputSchema {path!r}: name the message to decode as {path}#package.Message "
            f"(top-level messages: {found})"
        )
    return roots[0]


def _protobuf(raw: bytes, schema: str) -> Any:
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError

    message = _proto_class(schema)()
    try:
        message.ParseFromString(raw)
    except DecodeError:
        raise ValueError("not a protobuf message of this schema") from None
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
