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
    # A command's start (the imports, the spec models' build) creates objects that live to its
    # end: the cycle collector, run again and again over them, frees nothing (~4% of
    # `validate`). The one-shot commands end before it would matter; `run` turns it back on
    # once it serves (listeners.py).
    import gc

    gc.disable()
    if sys.argv[1:2] == ["run"]:
        import signal

        # A SIGHUP before `run` has its reload handler would end the process (the default
        # action): held from here, the earliest point, until `serve` installs the handler,
        # it becomes a reload once the ports answer. Blocked before any thread exists, so no
        # thread can take it either.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    from naftiko.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
