"""``--baseline REV``: the proxy part on another commit too, interleaved with this tree.

The other commit is checked out into a temporary ``git worktree`` (detached, removed at the
end) and run with an environment of its own dependencies: this checkout's ``.venv`` when the
two ``pyproject.toml`` declare the same dependencies (the usual case), else a venv made once
under ``.bench/venv-<hash of its dependencies>`` and reused by later runs. Its addon runs as
``mitmdump -s <worktree>/addon/aispendtrack_addon.py`` (that entry file puts the worktree's
``src/`` first on the path), on a database of its own that its own CLI makes (accounts, keys
and a budget the same as this tree's: ``accounts create``, ``keys create --json``,
``accounts budget``), so its schema is its own. The fake provider, the load generator and
bare mitmdump are shared: the "before" configurations (``base:addon``, ``base:addon+limits``,
``base:addon+budget``) are cells of the same round-robin schedule as "after".
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
import venv
from dataclasses import dataclass
from pathlib import Path

from aispendtrack_dev.bench.procs import REPO

BASE_PREFIX = "base:"  # the configurations run on the --baseline commit
CLI = "import sys; from aispendtrack.cli import main; sys.exit(main())"


@dataclass(frozen=True)
class BaseKey:
    id: str
    key: str


@dataclass
class Baseline:
    rev: str
    sha: str
    checkout: Path
    python: Path
    venv: str  # which environment runs it, said in the report

    @property
    def entry(self) -> Path:
        return self.checkout / "addon" / "aispendtrack_addon.py"

    @property
    def mitmdump(self) -> Path:
        return self.python.parent / "mitmdump"

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.checkout / "src")}

    def cli(self, config: Path, db: Path, *args: str) -> str:
        done = subprocess.run([str(self.python), "-c", CLI, "--config", str(config), "--db", str(db), *args],
                              capture_output=True, text=True, env=self.env(), cwd=self.checkout, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"baseline {self.sha[:10]}: `aispendtrack {' '.join(args)}` failed: "
                               f"{(done.stderr or done.stdout).strip()[-800:]}")
        return done.stdout

    def describe(self) -> str:
        return f"{self.rev} = {self.sha[:10]} ({self.venv})"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def dependencies(pyproject: str) -> str:
    """What a venv must hold for a checkout: its declared dependencies and extras, as text."""
    project = tomllib.loads(pyproject).get("project", {})
    return json.dumps({"dependencies": sorted(project.get("dependencies", [])),
                       "extras": {k: sorted(v) for k, v in project.get("optional-dependencies", {}).items()}},
                      sort_keys=True)


def _python_for(checkout: Path, cache: Path, log) -> tuple[Path, str]:
    """An interpreter with the checkout's dependencies: this one's when they match, else a
    venv made once per set of dependencies and kept under `cache`."""
    theirs = dependencies((checkout / "pyproject.toml").read_text())
    if theirs == dependencies((REPO / "pyproject.toml").read_text()):
        return Path(sys.executable), "this checkout's .venv: same dependencies"
    where = cache / f"venv-{hashlib.sha256(theirs.encode()).hexdigest()[:16]}"
    python, stamp = where / "bin" / "python", where / ".installed"
    if stamp.exists():
        return python, f"venv {where.name} of its dependencies, reused"
    log(f"bench: baseline dependencies differ: installing them into {where} (once) …")
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    f"{checkout}[demo]"], check=True)
    stamp.touch()
    return python, f"venv {where.name} of its dependencies, made now"


def prepare(rev: str, where: Path, cache: Path, log) -> Baseline:
    """A detached worktree of `rev` at `where` and the interpreter that runs it."""
    try:
        sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"--baseline {rev}: not a commit of this repository ({e.stderr.strip()})") from None
    _git("worktree", "add", "--detach", "--quiet", str(where), sha)
    try:
        if not (where / "addon" / "aispendtrack_addon.py").exists():
            raise SystemExit(f"--baseline {rev}: that commit has no addon/aispendtrack_addon.py to run")
        python, how = _python_for(where, cache, log)
    except BaseException:
        remove(where)
        raise
    return Baseline(rev, sha, where, python, how)


def remove(where: Path) -> None:
    """The temporary worktree gone, with git's record of it (only this one's)."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(where)], capture_output=True)


def make_keys(b: Baseline, db: Path, config: Path) -> dict[str, BaseKey]:
    """The same accounts, keys and budget as `scenarios.make_keys`, made by the baseline's CLI."""
    for account, tier in (("bench-enterprise", "enterprise"), ("bench-free", "free"), ("bench-budget", "free")):
        b.cli(config, db, "accounts", "create", account, "--tier", tier)
    b.cli(config, db, "accounts", "budget", "bench-budget", "--usd", "1000000", "--period", "month")
    keys = {}
    for config_name, account in (("addon", "bench-enterprise"), ("addon+limits", "bench-free"),
                                 ("addon+budget", "bench-budget")):
        made = json.loads(b.cli(config, db, "keys", "create", account, "--name", "bench", "--json"))
        keys[BASE_PREFIX + config_name] = BaseKey(made["id"], made["key"])
    return keys
