"""Azure OpenAI: which model a call is priced at, and whether its api-version takes `stream_options`.

Azure serves OpenAI's shapes under `/openai/deployments/<deployment>/…?api-version=…` and
`/openai/v1/…` (where the body's `model` names the deployment). A deployment's name is the
user's own; the response's `model` names the model that served (e.g. `gpt-4o-2024-08-06`).
That one is priced; `[azure.deployments]` names a deployment's model for a response that
carries none, or one genai-prices does not know. Pure functions, no mitmproxy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs, unquote

_DEPLOYMENT = re.compile(r"/openai/deployments/([^/?#]+)/")
_VERSION = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
# The first api-versions that take `stream_options.include_usage` (2024-09-01-preview, GA in
# 2024-10-21); an older one answers 400 "Unrecognized request argument supplied: stream_options".
FIRST_STREAM_OPTIONS = (2024, 9, 1)


def deployment(path: str, body_model: str | None) -> str | None:
    """The deployment a call goes to: the path's, else (the `/openai/v1/` form) the body's model."""
    if m := _DEPLOYMENT.search(path.split("?", 1)[0]):
        return unquote(m.group(1))
    return body_model


def served_model(response_model: str | None, request_model: str | None, path: str,
                 deployments: Mapping[str, str], known: Callable[[str], bool]) -> str | None:
    """The model to price: the response's, unless it names none or one `known` does not know and
    the deployment is mapped; then the mapped one. Else what the request named."""
    mapped = deployments.get(deployment(path, request_model) or "") if deployments else None
    if response_model and (mapped is None or known(response_model)):
        return response_model
    return mapped or response_model or request_model


def model_to_price(pricer, deployments: Mapping[str, str], path: str, answered: str | None,
                   requested: str | None) -> str | None:
    """`served_model` with what `pricer` (a `meter.pricing.Pricer`) knows: a local price or a
    genai-prices entry under `azure`."""
    return served_model(answered, requested, path, deployments,
                        lambda m: m in pricer.overrides or pricer.lookup(m, "azure") is not None)


def priced_names(path: str, names: tuple[str, ...], deployments: Mapping[str, str]) -> tuple[str, ...]:
    """The models a budget bound prices a request at: each name a mapped deployment replaced by
    its model, the path's mapped deployment first."""
    out = [deployments.get(n, n) for n in names]
    if (dep := deployment(path, None)) and (mapped := deployments.get(dep)):
        out.insert(0, mapped)
    return tuple(dict.fromkeys(out))


def takes_stream_options(path: str) -> bool:
    """Whether the call's api-version accepts `stream_options` (the `/openai/v1/` form always does)."""
    path, _, query = path.partition("?")
    if "/openai/v1/" in path + "/":
        return True
    versions = parse_qs(query).get("api-version")
    if not versions:
        return False
    m = _VERSION.match(versions[0])
    return m is not None and tuple(int(g) for g in m.groups()) >= FIRST_STREAM_OPTIONS
