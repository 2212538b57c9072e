"""The `naftiko` command's entry (and `python -m naftiko`): `--version` is answered here,
before the CLI (click) is imported; every other command goes to `naftiko.cli`."""

from __future__ import annotations

import sys

from naftiko.version import SPEC_VERSION, __version__


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        # A version probe (container checks, scripts) costs an interpreter start, not a CLI.
        print(f"naftiko {__version__} (spec {SPEC_VERSION})")
        return
    from naftiko.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
