"""The API families the proxy knows, in one registry (see `base`).

Every module of this package other than `base` declares `FAMILIES`, and may declare
`FORMATS` (error formats), `HINTS` (provider hints) and `HOSTS` (default provider hosts,
read once by `config_providers`); they are registered here on import. Adding a wire format is one module here plus its tests (README: "Adding a
provider family").
"""

from __future__ import annotations

import importlib
import pkgutil

from aispendtrack.families.base import ErrorFormat, Family, PathModel, ProviderHint, Registry

__all__ = ["ErrorFormat", "Family", "PathModel", "ProviderHint", "Registry", "registry"]

registry = Registry()


def _load() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        registry.register(*getattr(module, "FORMATS", ()), *getattr(module, "FAMILIES", ()),
                          *getattr(module, "HINTS", ()))
        registry.add_hosts(getattr(module, "HOSTS", {}))


_load()
