"""Spec, import and bind files that are hostile: each is one located refusal, never a hang,
a traceback or memory that grows with the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from naftiko import BindingError, Location, Problem, SpecError, load
from naftiko.spec.bindings import resolve
from naftiko.spec.files import MAX_FILE_BYTES

SPEC = """\
naftiko: 1.0.0-alpha2
info:
  label: Hostile
binds:
- namespace: vault
  location: ./secrets.yaml
  keys:
    TOKEN: token
capability:
  consumes:
  - type: http
    namespace: up
    baseUri: https://api.example.com
    resources:
    - name: r
      path: /x
      operations:
      - name: get
        method: GET
"""


def _spec(folder: Path, text: str = SPEC) -> Path:
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _bind_error(spec: Path) -> str:
    with pytest.raises(BindingError) as caught:
        resolve(load(spec), {})
    return str(caught.value)


def test_a_spec_that_is_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError) as caught:
        load(fifo)
    assert caught.value.problems == [
        Problem(Location(str(fifo)), "is a FIFO, device or socket, not a regular file")
    ]


def test_an_import_of_a_device_is_refused_at_its_location(tmp_path: Path) -> None:
    device = "  - location: /dev/zero\n    import: up\n  - type: http\n"
    spec = _spec(tmp_path, SPEC.replace("  - type: http\n", device, 1))
    with pytest.raises(SpecError) as caught:
        load(spec)
    assert caught.value.problems == [
        Problem(
            Location(str(spec), 11, 15, "capability.consumes[0].location"),
            "cannot import '/dev/zero': /dev/zero: is a FIFO, device or socket, not a regular file",
        )
    ]


def test_a_spec_larger_than_the_file_bound_is_refused_unread(tmp_path: Path) -> None:
    sparse = tmp_path / "huge.yaml"
    with sparse.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(SpecError) as caught:
        load(sparse)
    assert caught.value.problems == [Problem(Location(str(sparse)), "is larger than 64 MiB")]


def test_a_nul_character_in_a_spec_is_located_at_its_line_and_column(tmp_path: Path) -> None:
    spec = _spec(tmp_path, SPEC.replace("label: Hostile", "label: Host\x00ile"))
    with pytest.raises(SpecError) as caught:
        load(spec)
    assert caught.value.problems == [
        Problem(Location(str(spec), 3, 14), "YAML does not allow the character U+0000")
    ]


def test_each_of_many_unknown_keys_is_located_at_its_own_line(tmp_path: Path) -> None:
    # Each warning used to scan the whole mapping: 20,000 keys took 9 s, 300,000 minutes.
    keys = "".join(f"  k{i}: {i}\n" for i in range(20_000))
    spec = _spec(tmp_path, SPEC.replace("  label: Hostile\n", f"  label: Hostile\n{keys}"))
    warnings = [w for w in load(spec).warnings if w.message.startswith("unknown key")]
    assert (len(warnings), warnings[-1]) == (
        20_000,
        Problem(Location(str(spec), 20_003, 3, "info.k19999"), "unknown key 'k19999' ignored"),
    )


def test_a_bind_file_that_is_a_fifo_is_a_binding_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "secrets.yaml")
    assert _bind_error(_spec(tmp_path)).endswith("is a FIFO, device or socket, not a regular file")


def test_a_bind_file_that_is_not_utf8_is_a_binding_error(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_bytes(b"token: \xff\n")
    assert _bind_error(_spec(tmp_path)).endswith("bind file ./secrets.yaml is not UTF-8 text")


def test_a_deeply_nested_bind_file_is_a_binding_error_that_quotes_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "secrets.yaml").write_text("token: " + "[" * 100_000 + "]" * 100_000)
    assert _bind_error(_spec(tmp_path)).endswith(
        "bind file ./secrets.yaml is not valid YAML (line 1, column 1007)"
    )


def test_a_deeply_nested_json_bind_file_is_a_binding_error(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text('{"token": ' + "[" * 100_000 + "]" * 100_000 + "}")
    spec = _spec(tmp_path, SPEC.replace("secrets.yaml", "secrets.json"))
    assert _bind_error(spec).endswith("bind file ./secrets.json is not valid YAML/JSON")


def test_aliases_in_a_bind_file_do_not_expand_into_a_secret(tmp_path: Path) -> None:
    # A billion-laughs value would have been turned into one string of 9**8 items.
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        name, prev = chr(97 + i), chr(96 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    (tmp_path / "secrets.yaml").write_text("\n".join([*lines, "token: *i", ""]))
    assert "bind file ./secrets.yaml is not valid YAML" in _bind_error(_spec(tmp_path))
