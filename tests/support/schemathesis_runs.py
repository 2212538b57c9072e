"""schemathesis's own CLI (`st run ...`), run once per argument list in one process: its
imports and start-up (about a CPU-second) are paid once for every run, not once each.

`python -m tests.support.schemathesis_runs '[["run", URL, ...], ...]'`: each run writes its
own report (`--report-json-path`); their outputs follow each other on stdout, each after a
line `== run N`."""

from __future__ import annotations

import contextlib
import json
import sys


def main() -> None:
    from schemathesis.cli import schemathesis

    for number, arguments in enumerate(json.loads(sys.argv[1])):
        print(f"== run {number}", flush=True)
        # click ends every command with SystemExit, whatever its result.
        with contextlib.suppress(SystemExit):
            schemathesis.main(arguments, prog_name="st")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
