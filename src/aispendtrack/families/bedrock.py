"""Amazon Bedrock Runtime: Converse / ConverseStream and InvokeModel (with response stream),
at `/model/<model id, percent-encoded>/<operation>`, and AWS's JSON error format."""

from __future__ import annotations

import re
from urllib.parse import unquote

from aispendtrack.families.base import ErrorFormat, Family, PathModel

_PATH = re.compile(r"/model/([^/]+)/(?:converse|converse-stream|invoke|invoke-with-response-stream)")
# a system inference profile or foundation model named by its ARN: the model is the resource id
_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[a-z0-9-]*:[0-9]*:(?:inference-profile|foundation-model)/([^/]+)")
# AWS error codes botocore raises as the client's exceptions (its ClientError `Code`)
TYPES = {400: "ValidationException", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
         429: "ThrottlingException", 502: "ServiceUnavailableException", 503: "ServiceUnavailableException"}


def model(segment: str) -> PathModel:
    """A Bedrock path's model: the segment decoded once (as AWS does; an ARN's `/` and a
    version's `:` come encoded), a system inference profile's or foundation model's ARN
    read as its id (`us.anthropic.claude-…`); other ARNs (application inference profiles,
    provisioned throughput) stay whole. Still encoded after that, or blank: ambiguous."""
    name = unquote(segment)
    if not name or "%" in name or not name.isprintable() or any(c.isspace() for c in name):
        return PathModel(problem=f"the path's model {name[:80]!r} is not one model name")
    arn = _ARN.fullmatch(name)
    return PathModel(arn.group(1) if arn else name)


def path_model(path: str, query: str) -> PathModel | None:
    found = _PATH.fullmatch(path)
    return model(found.group(1)) if found else None


def max_tokens(body: dict) -> list:
    inference = body.get("inferenceConfig")  # Converse; InvokeModel's Anthropic body has max_tokens
    return [inference.get("maxTokens")] if isinstance(inference, dict) else []


def _error(status: int, message: str, code: str) -> dict:
    return {"__type": TYPES.get(status, "InternalServerException"), "message": message}


def _family(name: str, operation: str, order: int, usage: str, streamed: bool) -> Family:
    return Family(name, (re.compile(rf"^/model/[^/]+/{operation}$"),), order, provider="aws", shape="bedrock",
                  usage=usage, stream="eventstream" if streamed else "sse", always_streams=streamed,
                  path_model=path_model, max_tokens=max_tokens)


# AWS's JSON protocol; the code also goes in x-amzn-ErrorType
FORMATS = (ErrorFormat("bedrock", 30, _error, providers=frozenset({"aws"}),
                       headers=lambda status: {"x-amzn-ErrorType": TYPES.get(status, "InternalServerException")}),)
# Never matched by the other families' patterns: tried first.
FAMILIES = (
    _family("bedrock-converse", "converse", 10, "converse", False),
    _family("bedrock-converse-stream", "converse-stream", 11, "converse", True),
    _family("bedrock-invoke", "invoke", 12, "anthropic", False),  # Anthropic models: Anthropic's body shape
    _family("bedrock-invoke-stream", "invoke-with-response-stream", 13, "anthropic", True),
)
# Amazon Bedrock Runtime, every region (and its FIPS endpoints): genai-prices' id for Bedrock
HOSTS = {
    "bedrock-runtime.*.amazonaws.com": "aws",
    "bedrock-runtime-fips.*.amazonaws.com": "aws",
}
