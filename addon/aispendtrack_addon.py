"""AiSpendTrack entry file of the checkout for `mitmdump -s` / `mitmproxy -s` / `mitmweb -s`.

Loads the checked-out package (`src/`) through the package's own entry file, with the
checkout's config and database wherever mitmproxy is started from (see `aispendtrack.paths`).
"""

import os
import runpy
import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]
if str(_CHECKOUT / "src") not in sys.path:
    sys.path.insert(0, str(_CHECKOUT / "src"))
os.environ.setdefault("AISPENDTRACK_CHECKOUT", str(_CHECKOUT))

addons = runpy.run_path(str(_CHECKOUT / "src" / "aispendtrack" / "entry" / "aispendtrack_addon.py"))["addons"]
