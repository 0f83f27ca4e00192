"""AiSpendTrack entry file for `mitmdump -s` / `mitmproxy -s` / `mitmweb -s`, shipped in the
package: `mitmdump -s "$(aispendtrack addon-path)"`.

mitmproxy's `-s` takes a file, not a package, and hot-reloads only this file; so on each
load the package is imported afresh (no stale copies), then handed over.
"""

import sys

for _name in [m for m in sys.modules if m == "aispendtrack" or m.startswith("aispendtrack.")]:
    del sys.modules[_name]

from aispendtrack.proxy.addon import AiSpendTrack  # noqa: E402

addons = [AiSpendTrack()]
