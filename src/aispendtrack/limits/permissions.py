"""Pure: what a key may do, from its tier's permissions and its own narrowed set.

A key's effective permissions are its tier's intersected with the key's own (`None` =
everything the tier allows). Models are a glob allow-list (`fnmatch`, case-sensitive);
`None` = any model. Nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

PERMISSIONS = ("calls", "dashboard", "export", "team", "webhooks", "api")

TIER_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "free": ("calls", "dashboard"),
    "pro": PERMISSIONS,
    "enterprise": PERMISSIONS,
}

MAX_MODEL_GLOBS = 64
MAX_GLOB_LEN = 200


def parse_permissions(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """`"calls,dashboard"` or a list → a sorted tuple in table order; None stays None.

    Raises ValueError naming an unknown permission."""
    if value is None:
        return None
    items = [p.strip() for p in (value.split(",") if isinstance(value, str) else value)]
    items = [p for p in items if p]
    unknown = [p for p in items if p not in PERMISSIONS]
    if unknown:
        raise ValueError(f"unknown permission {unknown[0]!r}: choose from {', '.join(PERMISSIONS)}")
    return tuple(p for p in PERMISSIONS if p in items)


def parse_models(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """`"gpt-4o-mini,claude-*"` or a list → a tuple of globs (order kept, duplicates
    dropped); None or `"*"` alone = any model. Raises ValueError for an empty list or a bad glob."""
    if value is None:
        return None
    items = [g.strip() for g in (value.split(",") if isinstance(value, str) else value)]
    globs = tuple(dict.fromkeys(g for g in items if g))
    if not globs:
        raise ValueError("model list is empty: give at least one model name or glob, e.g. 'gpt-4o-mini,claude-*'")
    if len(globs) > MAX_MODEL_GLOBS:
        raise ValueError(f"at most {MAX_MODEL_GLOBS} model globs per key")
    for g in globs:
        if len(g) > MAX_GLOB_LEN or not g.isprintable():
            raise ValueError(f"model glob {g[:40]!r} is too long or has control characters")
    return None if globs == ("*",) else globs


def effective(tier_permissions: Iterable[str], key_permissions: Iterable[str] | None) -> tuple[str, ...]:
    tier = set(tier_permissions)
    own = tier if key_permissions is None else tier & set(key_permissions)
    return tuple(p for p in PERMISSIONS if p in own)


def model_allowed(globs: tuple[str, ...] | None, model: str | None) -> bool:
    """Any model when `globs` is None; else the model must match one glob (an unknown
    model never matches a narrowed key)."""
    if globs is None:
        return True
    return model is not None and any(fnmatchcase(model, g) for g in globs)


def models_within(requested: tuple[str, ...] | None, allowed: tuple[str, ...] | None) -> bool:
    """Whether a key limited to `requested` can reach no model outside `allowed`.

    Conservative: each requested glob must be one of the allowed globs, or a plain name
    (no glob characters) that an allowed glob matches."""
    if allowed is None:
        return True
    if requested is None:
        return False
    for g in requested:
        if g in allowed:
            continue
        if any(c in g for c in "*?[") or not model_allowed(allowed, g):
            return False
    return True


def denial_message(permission: str, tier: str, tiers: dict[str, Iterable[str]]) -> str:
    """Why a key lacks `permission`: its tier (`tiers` maps tier → permissions), or the key itself."""
    if permission not in set(tiers.get(tier, ())):
        tiers = [t for t, perms in tiers.items() if permission in set(perms) and t != tier]
        needs = " or ".join(tiers) or "a higher"
        return (f"the {permission} permission needs the {needs} tier; this account is on the {tier} tier "
                "(upgrade to get it)")
    return f"this key was created without {permission}; use a key that has it, or create one"
