"""`naftiko.load`: the public API, tolerant reading with located warnings, flow YAML, imports."""

from __future__ import annotations

from pathlib import Path

import pytest

import naftiko
from naftiko import Capability, Location, Problem, SpecError, load

SEED = Path(__file__).resolve().parents[2] / "examples" / "groq-batch.yaml"

SHARED_CONSUMES = """\
naftiko: 1.0.0-alpha2
consumes:
- type: http
  namespace: groq
  baseUri: https://api.groq.com
  resources:
  - name: batches
    path: /openai/v1/batches
    operations:
    - name: list-batches
      method: GET
"""


def _importing(location: str, *, alias: str = "") -> str:
    as_line = f"    as: {alias}\n" if alias else ""
    call = f"{alias or 'groq'}.list-batches"
    return f"""\
naftiko: 1.0.0-alpha2
capability:
  consumes:
  - import: groq
    location: {location}
{as_line}  exposes:
  - type: rest
    namespace: batches-rest
    port: 8080
    resources:
    - path: /batches
      operations:
      - method: GET
        call: {call}
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_public_api_is_exactly_this_list() -> None:
    assert naftiko.__all__ == [
        "SPEC_VERSION",
        "BindingError",
        "Capability",
        "InputError",
        "Location",
        "MappingError",
        "NaftikoError",
        "Problem",
        "SpecError",
        "UpstreamError",
        "UpstreamTimeout",
        "UpstreamUnavailable",
        "__version__",
        "load",
        "load_spec",
    ]


def test_load_spec_is_another_name_for_load() -> None:
    assert naftiko.load_spec is naftiko.load


def test_the_seed_loads_with_its_dialect_reported_as_located_warnings() -> None:
    capability = load(SEED)
    assert (
        Problem(
            Location(str(SEED), 48, 13, "capability.consumes[0].resources[1].path"),
            "single-brace `{name}` path variables read as `{{name}}`",
        )
        in capability.warnings
    )
    assert (
        Problem(
            Location(str(SEED), 88, 18, "capability.exposes[0].description"),
            "`description` on a rest adapter: documentation only",
        )
        in capability.warnings
    )


def test_every_warning_on_the_seed_points_at_a_line_of_the_seed() -> None:
    warnings = load(SEED).warnings
    assert warnings
    assert [w for w in warnings if w.location.file != str(SEED) or w.location.line < 1] == []


def test_a_spec_error_reads_file_line_column_path_and_message(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "bad.yaml",
        "naftiko: 1.0.0-alpha2\ncapability:\n  exposes:\n  - type: rest\n"
        "    namespace: api\n    port: eighty\n",
    )
    with pytest.raises(SpecError) as caught:
        load(spec)
    assert str(caught.value) == (
        f"{spec}:6:11: capability.exposes[0].port: Input should be a valid integer (got 'eighty')"
    )


def test_flow_style_yaml_loads_like_block_style(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "flow.yaml",
        '{naftiko: "1.0.0-alpha2", capability: {'
        "consumes: [{type: http, namespace: groq, baseUri: 'https://api.groq.com',"
        " resources: [{name: batches, path: /batches,"
        " operations: [{name: list-batches, method: GET}]}]}],"
        " exposes: [{type: rest, namespace: api, port: 8080,"
        " resources: [{path: /batches, operations: [{method: GET, call: groq.list-batches}]}]}]"
        "}}\n",
    )
    capability = load(spec)
    assert [(c.namespace, c.baseUri) for c in capability.body.consumes] == [
        ("groq", "https://api.groq.com")
    ]
    assert capability.warnings == []


def test_json_is_yaml_and_loads(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "spec.json",
        '{"naftiko": "1.0.0-alpha2", "capability": {"consumes": [{"type": "http",'
        ' "namespace": "groq", "baseUri": "https://api.groq.com"}]}}',
    )
    assert [c.namespace for c in load(spec).body.consumes] == ["groq"]


def test_an_import_resolves_against_the_spec_folder_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "specs" / "shared" / "groq.yaml", SHARED_CONSUMES)
    spec = _write(tmp_path / "specs" / "cap.yaml", _importing("./shared/groq.yaml"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    consumes = load(spec).body.consumes
    assert [(c.namespace, c.baseUri) for c in consumes] == [("groq", "https://api.groq.com")]


def test_an_import_location_may_be_a_file_url_relative_to_the_spec(tmp_path: Path) -> None:
    _write(tmp_path / "shared" / "groq.yaml", SHARED_CONSUMES)
    spec = _write(tmp_path / "cap.yaml", _importing("file:///./shared/groq.yaml"))
    assert [c.namespace for c in load(spec).body.consumes] == ["groq"]


def test_an_import_may_rename_the_namespace_with_as(tmp_path: Path) -> None:
    _write(tmp_path / "shared" / "groq.yaml", SHARED_CONSUMES)
    spec = _write(tmp_path / "cap.yaml", _importing("./shared/groq.yaml", alias="batches-api"))
    assert [c.namespace for c in load(spec).body.consumes] == ["batches-api"]


def test_a_problem_inside_an_imported_file_is_located_in_that_file(tmp_path: Path) -> None:
    shared = _write(
        tmp_path / "shared" / "groq.yaml",
        SHARED_CONSUMES.replace("method: GET", "method: FETCH"),
    )
    spec = _write(tmp_path / "cap.yaml", _importing("./shared/groq.yaml"))
    with pytest.raises(SpecError) as caught:
        load(spec)
    assert (caught.value.location.file, caught.value.location.line) == (str(shared), 11)


def test_info_title_is_read_as_info_label_with_a_warning(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "titled.yaml",
        "naftiko: 1.0.0-alpha2\ninfo:\n  title: Batches\nconsumes:\n- type: http\n"
        "  namespace: groq\n  baseUri: https://api.groq.com\n",
    )
    capability = load(spec)
    assert capability.info is not None
    assert capability.info.label == "Batches"
    assert capability.warnings == [
        Problem(Location(str(spec), 3, 3, "info.title"), "`info.title` read as `info.label`")
    ]


def test_an_unknown_key_is_a_warning_naming_the_key_at_its_line(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "colour.yaml",
        "naftiko: 1.0.0-alpha2\nconsumes:\n- type: http\n  namespace: groq\n"
        "  colour: blue\n  baseUri: https://api.groq.com\n",
    )
    assert load(spec).warnings == [
        Problem(Location(str(spec), 5, 3, "consumes[0].colour"), "unknown key 'colour' ignored")
    ]


def test_a_capability_remembers_its_file(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "spec.yaml",
        "naftiko: 1.0.0-alpha2\nconsumes:\n- namespace: groq\n  baseUri: https://api.groq.com\n",
    )
    capability = load(spec)
    assert isinstance(capability, Capability)
    assert capability.path == spec


def test_a_missing_file_is_a_spec_error_saying_so(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load(tmp_path / "absent.yaml")
    assert str(caught.value) == f"{tmp_path / 'absent.yaml'}: file not found"
