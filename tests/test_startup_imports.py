"""Start-up imports only what a command needs (issue 13, goal 4): each check runs in a fresh
interpreter, since this test process has long imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = str(REPO / "examples" / "groq-batch.yaml")

# Run as the `naftiko` command runs, then list the modules it loaded.
_COMMAND = """
import json, sys
from naftiko.__main__ import main
sys.argv = ["naftiko", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""

# What `naftiko run` builds before it opens a port: the runtime module and one build.
_BUILD = """
import json, os, sys
from pathlib import Path
from naftiko.runtime import build
from naftiko.settings import Settings
build([Path(sys.argv[1])], Settings(), os.environ)
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(code: str, *args: str) -> set[str]:
    env = {**os.environ, "GROQ_API_KEY": "test-token"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def _present(modules: set[str], *packages: str) -> list[str]:
    return [p for p in packages if any(m == p or m.startswith(p + ".") for m in modules)]


def test_validate_imports_neither_the_servers_nor_the_upstream_client_nor_optional_engines() -> (
    None
):
    modules = _loaded(_COMMAND, "validate", SEED)
    assert "naftiko.spec.loader" in modules
    unwanted = _present(
        modules,
        "aiohttp",
        "starlette",
        "uvicorn",
        "mcp",
        "jsonschema",
        "prometheus_client",
        "opentelemetry",
        "quickjs",
        "jwt",
        "rich",
        "naftiko.runtime",
        "naftiko.engine.plan",
    )
    assert unwanted == []


def test_version_imports_neither_the_cli_nor_pydantic() -> None:
    modules = _loaded(_COMMAND, "--version")
    assert _present(modules, "click", "pydantic", "yaml", "naftiko.cli") == []


def test_a_runtime_without_scripts_tracing_or_strict_checks_loads_none_of_their_libraries() -> None:
    modules = _loaded(_BUILD, SEED)
    assert "naftiko.engine.engine" in modules
    unwanted = _present(
        modules,
        "mcp",  # MCP is served by our own core (adapters/mcp_server.py)
        "opentelemetry",  # tracing, when an observability block turns it on
        "cryptography",  # PyJWT's keys, for OAuth-protected adapters
        "quickjs",  # JavaScript script steps
        "jsonschema",  # validate --strict
        "jwt",  # OAuth-protected adapters
        "fastavro",  # avro output
        "google.protobuf",  # protobuf output
        "naftiko.engine.markup",  # xml and html output (ElementTree, html.parser)
        "xml.etree",
        "html.parser",
        "naftiko.engine.telemetry",  # the OpenTelemetry SDK, when tracing is on
        "naftiko.supervisor",  # --workers
        "naftiko.tools",  # import, export, create
    )
    assert unwanted == []


def test_a_run_flag_refused_imports_neither_the_servers_nor_the_upstream_client() -> None:
    # The flags are checked first: a usage error (exit 2) costs a CLI start, not a runtime's.
    modules = _loaded(_COMMAND, "run", "--log-format", "xml", SEED)
    assert "naftiko.settings" in modules
    unwanted = _present(
        modules,
        "aiohttp",
        "starlette",
        "uvicorn",
        "pydantic",
        "naftiko.runtime",
        "naftiko.listeners",
    )
    assert unwanted == []
