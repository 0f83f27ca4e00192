"""Pure: which models a request reaches, so that the model checked is the model served.

Path-routed APIs (Gemini and Vertex AI: `…/models/<model>:generateContent`; Azure OpenAI:
`/openai/deployments/<deployment>/…`; Amazon Bedrock: `/model/<model id>/<operation>`)
serve the model (deployment) their path names, whatever the body says; every other API
serves the body's `model`. OpenRouter may also serve any entry of a body's `models`
fallback list, and lets `route`, a preset or `openrouter/auto` choose a model itself.
Nothing here reads a flow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote

from aispendtrack.families import PathModel, registry

SEGMENT = "/models/"
DEPLOYMENTS = "/openai/deployments/"  # Azure OpenAI: routed by the deployment's name
ROUTERS = ("openrouter/auto",)  # model ids whose upstream picks the model that serves
PRESET = "@preset/"  # OpenRouter: a saved preset names the model on the provider's side
MAX_FALLBACKS = 64  # entries of a `models` list checked; a longer list is refused


@dataclass(frozen=True, slots=True)
class Requested:
    served: str | None  # the model the upstream serves: the path's, else the body's
    names: tuple[str, ...]  # every model the request names, the served one first
    unchecked: str | None = None  # why the request lets the upstream choose a model we cannot check


def _unquoted(path: str) -> str | None:
    """`path` percent-decoded until it no longer changes; None if that takes more than 3 passes."""
    for _ in range(4):
        decoded = unquote(path)
        if decoded == path:
            return path
        path = decoded
    return None


def path_model(path: str) -> PathModel:
    """The model a path routes to. Read percent-decoded (an upstream may decode `%2F`), so
    `/models/` hidden by encoding, a second `/models/` segment, dot segments or a model
    name with a slash make the path ambiguous: `problem` says why."""
    path, _, query = path.split("#", 1)[0].partition("?")
    if (named := registry.path_model(path, query)) is not None:
        return named  # a family's own path model (Bedrock's `/model/<id>/…`, Realtime's `?model=`)
    decoded = _unquoted(path)
    if decoded is None:
        return PathModel(problem="the path is percent-encoded more than three times over")
    lowered = decoded.lower()
    if DEPLOYMENTS in lowered:
        return _deployment(decoded, lowered)
    count = lowered.count(SEGMENT)
    if count == 0:
        return PathModel()
    if count > 1:
        return PathModel(problem=f"the path names {count} models (a {SEGMENT} segment {count} times): name one")
    if (hidden := _behind_dots(decoded, "model")) is not None:
        return hidden
    tail = decoded[lowered.index(SEGMENT) + len(SEGMENT):]
    if ":" not in tail:
        return PathModel()  # /v1/models/<id>: a model's description, not a call routed by the path
    model = tail.split(":", 1)[0]
    if not model or "/" in model or not model.isprintable() or any(c.isspace() for c in model):
        return PathModel(problem=f"the path's model {model[:80]!r} is not one model name")
    return PathModel(model)


def _behind_dots(decoded: str, what: str) -> PathModel | None:
    """A problem when dot segments or backslashes stand between the path and its `what`
    (an upstream may resolve them to another model than the one read here)."""
    segments = decoded.split("/")
    if "." in segments or ".." in segments or "\\" in decoded:
        return PathModel(problem=f"the path's {what} is behind dot segments or backslashes: name it plainly")
    return None


def _deployment(decoded: str, lowered: str) -> PathModel:
    """Azure OpenAI's `/openai/deployments/<deployment>/…`: the deployment routes the call, as a
    model does elsewhere (a body's `model` is not what Azure serves there)."""
    start = lowered.index(DEPLOYMENTS) + len(DEPLOYMENTS)
    name, slash, rest = decoded[start:].partition("/")
    if DEPLOYMENTS in "/" + rest.lower() or SEGMENT in "/" + rest.lower():
        return PathModel(problem="the path names more than one deployment or model: name one")
    if (hidden := _behind_dots(decoded, "deployment")) is not None:
        return hidden
    if not slash:
        return PathModel()  # the deployment's own description, not a call
    if not name or not name.isprintable() or any(c.isspace() or c == ":" for c in name):
        return PathModel(problem=f"the path's deployment {name[:80]!r} is not one deployment name")
    return PathModel(name)


class _Object(dict):
    """A JSON object that remembers which of its names appeared more than once."""

    repeated: frozenset[str] = frozenset()


def _pairs(pairs: list[tuple[str, object]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.repeated = frozenset(k for k, _ in pairs if k in seen or seen.add(k))
    return obj


def parse_body(body: bytes) -> dict | None:
    """A JSON object body, its repeated top-level names kept in `.repeated` (parsers differ
    on which copy wins); None for anything else."""
    if not body or not body.strip():
        return None
    try:
        obj = json.loads(body, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _chosen_upstream(name: str) -> bool:
    base = name.split(":", 1)[0].lower()
    return base in ROUTERS or PRESET in name.lower()


def requested(path: str, body: dict | None) -> Requested:
    """Every model `path` and `body` (from `parse_body`, or any dict) name, and why the
    request cannot be checked model by model, if it cannot."""
    served = path_model(path).model
    body = body if body is not None else {}
    fallbacks = body.get("models")
    if not isinstance(fallbacks, list) or len(fallbacks) > MAX_FALLBACKS:
        fallbacks = []
    given = [served, body.get("model"), *fallbacks]
    names = tuple(dict.fromkeys(n for n in given if isinstance(n, str) and n))
    return Requested(served or (names[0] if names else None), names, _unchecked(body, names))


def _valid_list(value: object) -> bool:
    return (isinstance(value, list) and 0 < len(value) <= MAX_FALLBACKS
            and all(isinstance(m, str) and m for m in value))


def _unchecked(body: dict, names: tuple[str, ...]) -> str | None:
    """Why a narrowed key cannot be checked on this body's models: the upstream could serve
    one it does not name plainly (not a string, named twice, chosen by the provider)."""
    repeated = sorted({"model", "models", "route", "preset"} & getattr(body, "repeated", frozenset()))
    if repeated:
        return f"the body names {repeated[0]!r} more than once"
    if "preset" in body:
        return "the body names an OpenRouter preset, which chooses the model itself"
    model = body.get("model")
    if "model" in body and not (isinstance(model, str) and model):
        return "the body's model is not a model name"
    if "models" in body and not _valid_list(body["models"]):
        return f"the body's models is not a list of 1 to {MAX_FALLBACKS} model names"
    route = body.get("route")
    if route is not None and not (route == "fallback" and "models" in body):
        return "the body's route lets the provider choose a model outside a models list"
    if routed := [n for n in names if _chosen_upstream(n)]:
        return f"model {routed[0]!r} lets the provider choose the model"
    return None
