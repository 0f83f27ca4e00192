"""Summary of a mutmut run (`scripts/mutate`): score per module, then each surviving mutant.

A module's score is killed / (killed + survived); mutants no test reaches, timeouts and
suspicious ones are counted apart, never as killed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

MUTMUT = str(Path(sys.executable).with_name("mutmut"))
# aispendtrack.proxy.redact.x_hint__mutmut_11 / aispendtrack.proxy.redact.xǁRedactǁload__mutmut_3
NAME = re.compile(r"^\s*(?P<name>(?P<module>[\w.]+?)\.x[_ǁ]\S*__mutmut_\d+): (?P<status>.+)$")


def results() -> list[tuple[str, str, str]]:
    """(mutant, module, status) for every mutant of the last run."""
    out = subprocess.run([MUTMUT, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    return [(m["name"], m["module"], m["status"].strip()) for m in map(NAME.match, out.splitlines()) if m]


def diff(mutant: str) -> str:
    out = subprocess.run([MUTMUT, "show", mutant], capture_output=True, text=True).stdout
    return "\n".join(line for line in out.splitlines()
                     if line[:1] in "+-" and not line.startswith(("+++", "---")))


def main() -> int:
    rows = results()
    by_module: dict[str, Counter] = defaultdict(Counter)
    for _, module, status in rows:
        by_module[module][status] += 1
    print(f"{'module':40} {'score':>7} {'killed':>7} {'survived':>9} {'other':>6}")
    for module, c in sorted(by_module.items()):
        judged = c["killed"] + c["survived"]
        other = sum(c.values()) - judged
        score = f"{100 * c['killed'] / judged:.0f}%" if judged else "n/a"
        print(f"{module:40} {score:>7} {c['killed']:>7} {c['survived']:>9} {other:>6}")
    # "not checked" = not run yet (a run limited to some mutants, or stopped early)
    others = sorted((name, status) for name, _, status in rows
                    if status not in ("killed", "survived", "not checked"))
    for name, status in others:
        print(f"  {status}: {name}")
    survivors = [name for name, _, status in rows if status == "survived"]
    print(f"\n{len(survivors)} surviving mutant(s)")
    for name in survivors:
        print(f"\n{name}\n{diff(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
