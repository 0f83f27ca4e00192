"""AiSpendTrack entry file for `mitmdump -s` / `mitmproxy -s` / `mitmweb -s`.

mitmproxy's `-s` takes a file, not a package, and hot-reloads only this file; so this
file only makes the package importable, drops stale copies of it, and hands over.
"""

import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[1] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
for _name in [m for m in sys.modules if m == "aispendtrack" or m.startswith("aispendtrack.")]:
    del sys.modules[_name]

from aispendtrack.proxy.addon import AiSpendTrack  # noqa: E402

addons = [AiSpendTrack()]
