"""Where the tests find the reference material kept beside the repository (../shared: the
third-party corpus, the reference conformance suite and tutorial): `NAFTIKO_SHARED`, else the
`shared` folder next to the checkout. The only place a test names that path."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("NAFTIKO_SHARED") or REPO.parent / "shared")
CORPUS = SHARED / "corpus"
CONFORMANCE_DIR = SHARED / "conformance" / "naftiko-framework-1.0.0-alpha2"
TUTORIAL = CONFORMANCE_DIR / "tutorial"
