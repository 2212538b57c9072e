"""parse_body: every outputRawFormat becomes a JSON-compatible value, or a MappingError."""

from __future__ import annotations

import pytest

from naftiko.engine import formats
from naftiko.engine.formats import SUPPORTED_FORMATS, parse_body
from naftiko.errors import MappingError

BAD_BODY = "upstream answered {} that cannot be parsed"


def test_supported_formats_are_the_ones_parse_body_accepts() -> None:
    expected = {"json", "xml", "yaml", "csv", "tsv", "psv", "html", "markdown", "avro", "protobuf"}
    assert frozenset(expected) == SUPPORTED_FORMATS


def test_format_names_are_case_insensitive() -> None:
    assert parse_body(b'{"a": 1}', "JSON") == {"a": 1}


def test_unknown_format_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="unknown outputRawFormat 'toml'"):
        parse_body(b"a = 1", "toml")


@pytest.mark.parametrize("fmt", ["avro", "protobuf", "AVRO"])
def test_avro_and_protobuf_without_a_schema_are_a_mapping_error(fmt: str) -> None:
    expected = f"upstream answered {fmt.lower()} that cannot be decoded: "
    expected += f"outputRawFormat {fmt.lower()} needs an outputSchema"
    with pytest.raises(MappingError) as caught:
        parse_body(b"\x00\x01", fmt)
    assert str(caught.value) == expected


# json


def test_json_body_is_parsed() -> None:
    assert parse_body(b'{"users": [{"id": 1, "ok": true, "x": null}]}', "json") == {
        "users": [{"id": 1, "ok": True, "x": None}]
    }


def test_empty_json_body_is_none() -> None:
    assert parse_body(b"  \n", "json") is None


def test_json_integers_beyond_64_bits_survive() -> None:
    assert parse_body(b"[123456789012345678901234567890]", "json") == [
        123456789012345678901234567890
    ]


def test_json_falls_back_to_stdlib_when_the_fast_parser_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(raw: bytes) -> object:
        raise ValueError("Integer exceeds 64-bit range")

    monkeypatch.setattr(formats, "_fast_json", refuse)
    assert parse_body(b"[18446744073709551616]", "json") == [18446744073709551616]


def test_malformed_json_is_a_mapping_error_naming_the_format() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("json")):
        parse_body(b'{"a": ', "json")


def test_absurdly_nested_json_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("json")):
        parse_body(b"[" * 100_000, "json")


def test_parse_error_messages_never_carry_the_whole_body() -> None:
    body = b"x" * 5000
    with pytest.raises(MappingError) as caught:
        parse_body(body, "json")
    assert len(str(caught.value)) < 160


def test_parse_errors_are_not_chained_to_the_parser_exception() -> None:
    with pytest.raises(MappingError) as caught:
        parse_body(b"{", "json")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# xml


def test_xml_root_is_dropped_and_repeated_siblings_become_an_array() -> None:
    body = b"<root><user><id>1</id></user><user><id>2</id></user></root>"
    assert parse_body(body, "xml") == {"user": [{"id": "1"}, {"id": "2"}]}


def test_xml_single_child_stays_an_object() -> None:
    body = b"<root><user><id>1</id><name>Ann</name></user></root>"
    assert parse_body(body, "xml") == {"user": {"id": "1", "name": "Ann"}}


def test_xml_leaf_values_are_strings_and_empty_elements_are_empty_strings() -> None:
    body = b"<root><count>3</count><active>true</active><note/></root>"
    assert parse_body(body, "xml") == {"count": "3", "active": "true", "note": ""}


def test_xml_attributes_become_fields_and_text_beside_them_goes_under_empty_key() -> None:
    body = b'<root id="7"><price currency="EUR">12.50</price></root>'
    assert parse_body(body, "xml") == {"id": "7", "price": {"currency": "EUR", "": "12.50"}}


def test_xml_namespaces_are_stripped_to_local_names() -> None:
    body = b'<a:root xmlns:a="urn:a" xmlns:b="urn:b"><b:item b:kind="k">v</b:item></a:root>'
    assert parse_body(body, "xml") == {"item": {"kind": "k", "": "v"}}


def test_xml_indentation_whitespace_is_ignored() -> None:
    body = b"<?xml version='1.0'?>\n<root>\n  <user>\n    <id>1</id>\n  </user>\n</root>\n"
    assert parse_body(body, "xml") == {"user": {"id": "1"}}


def test_xml_declared_encoding_is_honoured() -> None:
    body = "<?xml version='1.0' encoding='ISO-8859-1'?><r><city>Orléans</city></r>"
    assert parse_body(body.encode("latin-1"), "xml") == {"city": "Orléans"}


def test_xml_empty_root_is_an_empty_object() -> None:
    assert parse_body(b"<root/>", "xml") == {}


def test_xml_text_only_root_is_its_text() -> None:
    assert parse_body(b"<message>hello</message>", "xml") == "hello"


def test_empty_xml_body_is_none() -> None:
    assert parse_body(b"", "xml") is None


def test_xml_entity_bomb_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<lolz>&lol2;</lolz>"
    )
    with pytest.raises(MappingError) as caught:
        parse_body(bomb, "xml")
    assert str(caught.value) == (
        "upstream answered xml that cannot be parsed: DOCTYPE and ENTITY declarations are refused"
    )


def test_xml_doctype_hidden_by_utf16_encoding_is_still_refused() -> None:
    body = '<!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>'.encode("utf-16")
    with pytest.raises(MappingError) as caught:
        parse_body(body, "xml")
    assert str(caught.value) == (
        "upstream answered xml that cannot be parsed: DOCTYPE declarations are refused"
    )


def test_malformed_xml_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("xml")):
        parse_body(b"<root><a>1</root>", "xml")


# yaml


def test_yaml_body_is_parsed() -> None:
    body = b"name: api\nports: [80, 443]\nratio: 0.5\nenabled: yes\n"
    assert parse_body(body, "yaml") == {
        "name": "api",
        "ports": [80, 443],
        "ratio": 0.5,
        "enabled": True,
    }


def test_yaml_dates_and_non_string_keys_become_json_compatible() -> None:
    body = b"released: 2024-05-01\n404: missing\n"
    assert parse_body(body, "yaml") == {"released": "2024-05-01", "404": "missing"}


def test_yaml_refuses_python_object_tags() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("yaml")):
        parse_body(b"!!python/object/apply:os.system ['true']", "yaml")


def test_yaml_alias_bomb_is_refused() -> None:
    lines = [b'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for n in range(1, 9):
        lines.append(b"a%d: &a%d [" % (n, n) + b", ".join([b"*a%d" % (n - 1)] * 9) + b"]")
    with pytest.raises(MappingError) as caught:
        parse_body(b"\n".join(lines), "yaml")
    assert str(caught.value) == (
        "upstream answered yaml that cannot be parsed: "
        "aliases expand beyond ten times the document size"
    )


def test_malformed_yaml_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("yaml")):
        parse_body(b"a: [1, 2\nb: {", "yaml")


# csv, tsv, psv


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        ("csv", b"id,name\n1,Ann\n2,Bob\n"),
        ("tsv", b"id\tname\n1\tAnn\n2\tBob\n"),
        ("psv", b"id|name\n1|Ann\n2|Bob\n"),
    ],
)
def test_delimited_rows_become_objects_keyed_by_header(fmt: str, body: bytes) -> None:
    assert parse_body(body, fmt) == [{"id": "1", "name": "Ann"}, {"id": "2", "name": "Bob"}]


def test_csv_quoted_fields_keep_delimiters_and_newlines() -> None:
    body = b'id,note\r\n1,"a, b"\r\n2,"line 1\nline 2"\r\n'
    assert parse_body(body, "csv") == [
        {"id": "1", "note": "a, b"},
        {"id": "2", "note": "line 1\nline 2"},
    ]


def test_csv_blank_lines_are_skipped_and_short_rows_lack_trailing_fields() -> None:
    assert parse_body(b"a,b\n\n1,2\n3\n", "csv") == [{"a": "1", "b": "2"}, {"a": "3"}]


def test_empty_csv_body_is_an_empty_list() -> None:
    assert parse_body(b"", "csv") == []


def test_csv_with_only_a_header_is_an_empty_list() -> None:
    assert parse_body(b"a,b\n", "csv") == []


def test_csv_row_longer_than_the_header_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        parse_body(b"a,b\n1,2,3\n", "csv")
    assert str(caught.value) == (
        "upstream answered csv that cannot be parsed: record 1 has 3 cells, header has 2"
    )


def test_malformed_csv_quoting_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("csv")):
        parse_body(b'a,b\n"x"y,2\n', "csv")


def test_undecodable_tsv_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("tsv")):
        parse_body(b"a\tb\n\xff\xfe\t1\n", "tsv")


# html

PAGE = b"""<html><body>
<div id="main" class="report">
  <table class="data">
    <thead><tr><th>Name</th><th> Age </th></tr></thead>
    <tbody>
      <tr><td>Ann <b>Lee</b></td><td>30</td></tr>
      <tr><td>Bob<td>40</tr>
    </tbody>
  </table>
</div>
<table><tr><td>no</td><td>header</td></tr></table>
<table id="totals"><tr><th>Total</th></tr><tr><td>  70&nbsp;<br>years </td></tr></table>
</body></html>"""
MAIN_TABLE = [{"Name": "Ann Lee", "Age": "30"}, {"Name": "Bob", "Age": "40"}]
TOTALS_TABLE = [{"Total": "70 years"}]


def test_html_tables_with_headers_become_row_objects_and_headerless_ones_are_skipped() -> None:
    assert parse_body(PAGE, "html") == {"tables": [MAIN_TABLE, TOTALS_TABLE]}


def test_html_header_row_need_not_be_in_thead_and_rows_with_th_are_not_data() -> None:
    body = b"<table><tr><th>k</th><th>v</th></tr><tr><th>sub</th></tr><tr><td>a</td></tr></table>"
    assert parse_body(body, "html") == {"tables": [[{"k": "a"}]]}


def test_html_without_tables_has_an_empty_table_list() -> None:
    assert parse_body(b"<p>nothing here</p>", "html") == {"tables": []}


@pytest.mark.parametrize(
    ("selector", "tables"),
    [
        ("table", [MAIN_TABLE, TOTALS_TABLE]),
        ("#totals", [TOTALS_TABLE]),
        (".data", [MAIN_TABLE]),
        ("table#totals", [TOTALS_TABLE]),
        ("table.data", [MAIN_TABLE]),
        ("#main table", [MAIN_TABLE]),
        (".report table", [MAIN_TABLE]),
        ("div table", [MAIN_TABLE]),
        ("span table", []),
        ("div#main", [MAIN_TABLE]),
    ],
)
def test_html_output_schema_selector_scopes_the_tables(selector: str, tables: object) -> None:
    assert parse_body(PAGE, "html", output_schema=selector) == {"tables": tables}


def test_html_unsupported_selector_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        parse_body(PAGE, "html", output_schema="div > table")
    assert str(caught.value) == (
        "outputSchema selector 'div > table' is not supported by this runtime"
    )


def test_html_nested_table_is_collected_separately_after_its_parent() -> None:
    body = (
        b"<table><tr><th>outer</th></tr><tr><td>"
        b"<table><tr><th>inner</th></tr><tr><td>x</td></tr></table>"
        b"</td></tr></table>"
    )
    assert parse_body(body, "html") == {"tables": [[{"outer": ""}], [{"inner": "x"}]]}


def test_undecodable_html_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("html")):
        parse_body(b"<table>\xff</table>", "html")


def test_broken_html_markup_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("html")):
        parse_body(b"<p><![ x", "html")


# markdown

DOC = b"""---
title: Report
tags: [a, b]
---
Intro text.

# Users
The list:

| id | name |
|----|:----:|
| 1  | Ann \\| Lee |
| 2 |
| 3 | Cy | extra |

## Usage ##
```
# not a heading
| a | b |
|---|---|
```
### Totals
"""
DOC_TABLE = [
    {"id": "1", "name": "Ann | Lee"},
    {"id": "2", "name": ""},
    {"id": "3", "name": "Cy"},
]
USERS_SECTION = {
    "heading": "Users",
    "level": 1,
    "content": (
        "The list:\n\n| id | name |\n|----|:----:|\n| 1  | Ann \\| Lee |\n| 2 |\n| 3 | Cy | extra |"
    ),
}
USAGE_SECTION = {
    "heading": "Usage",
    "level": 2,
    "content": "```\n# not a heading\n| a | b |\n|---|---|\n```",
}
TOTALS_SECTION = {"heading": "Totals", "level": 3, "content": ""}


def test_markdown_yields_front_matter_tables_and_sections() -> None:
    assert parse_body(DOC, "markdown") == {
        "frontMatter": {"title": "Report", "tags": ["a", "b"]},
        "tables": [DOC_TABLE],
        "sections": [USERS_SECTION, USAGE_SECTION, TOTALS_SECTION],
    }


def test_markdown_output_schema_keeps_sections_whose_heading_has_the_prefix() -> None:
    assert parse_body(DOC, "markdown", output_schema="U") == {
        "frontMatter": {"title": "Report", "tags": ["a", "b"]},
        "tables": [DOC_TABLE],
        "sections": [USERS_SECTION, USAGE_SECTION],
    }


def test_markdown_without_front_matter_has_an_empty_one() -> None:
    assert parse_body(b"# Title\nbody\n", "markdown") == {
        "frontMatter": {},
        "tables": [],
        "sections": [{"heading": "Title", "level": 1, "content": "body"}],
    }


def test_markdown_unclosed_front_matter_is_a_thematic_break() -> None:
    assert parse_body(b"---\n# A\n", "markdown") == {
        "frontMatter": {},
        "tables": [],
        "sections": [{"heading": "A", "level": 1, "content": ""}],
    }


def test_markdown_hash_without_space_is_not_a_heading() -> None:
    assert parse_body(b"#5 bolts\n", "markdown") == {
        "frontMatter": {},
        "tables": [],
        "sections": [],
    }


def test_empty_markdown_has_empty_parts() -> None:
    assert parse_body(b"", "markdown") == {"frontMatter": {}, "tables": [], "sections": []}


def test_markdown_malformed_front_matter_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=BAD_BODY.format("markdown")):
        parse_body(b"---\ntitle: [unclosed\n---\n# A\n", "markdown")


def test_markdown_front_matter_that_is_not_a_mapping_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        parse_body(b"---\n- a\n- b\n---\n", "markdown")
    assert str(caught.value) == (
        "upstream answered markdown that cannot be parsed: front matter is not a mapping"
    )
