"""`/v1/webhooks`: the account's webhook endpoints and their deliveries (needs `webhooks`
and an owner/admin key). A signing secret is in the creating or rotating answer only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from aispendtrack.config import Config
from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.serve import webhook_targets
from aispendtrack.serve.roles import Caller, at_least
from aispendtrack.store import outbox, webhook_endpoints

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
admin = at_least("admin", "webhooks")


class Endpoint(BaseModel):
    id: str
    url: str
    events: list[str] | None = Field(description="null = every event")
    created: str
    disabled: str | None
    disabled_reason: str | None
    paused: str | None = Field(description="since when: the account's tier has no webhooks (resumes on upgrade)")
    previous_secret_until: str | None = Field(description="the previous secret signs too until then (rotation)")
    state: str = Field(description="enabled, paused: …, or disabled: …")


class NewEndpointRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000)
    events: list[str] | None = None


class NewEndpoint(Endpoint):
    secret: str = Field(description="whsec_…: shown only in this answer; verify signatures with it")


class RotatedSecret(BaseModel):
    id: str
    secret: str = Field(description="the new whsec_…: shown only in this answer")
    previous_secret_until: str | None = Field(description="the old secret signs too until then; null: not at all")


class Delivery(BaseModel):
    message_id: str
    type: str | None
    ts: str
    status: int | None
    error: str | None
    duration_ms: int | None
    state: str | None
    attempts: int | None


def _endpoint(row: dict) -> dict:
    fields = ("id", "url", "events", "created", "disabled", "disabled_reason", "paused", "previous_secret_until")
    return {**{k: row[k] for k in fields}, "state": webhook_endpoints.state(row)}


def _own(db, who: Caller, endpoint_id: str) -> dict:
    try:
        return outbox.get_endpoint(db, endpoint_id, who.key.account)
    except outbox.WebhookError as e:
        raise fail(404, "not_found", str(e)) from None


@router.get("", response_model=list[Endpoint])
def list_endpoints(who: Caller = Depends(admin), db=Depends(deps.database)) -> list[Endpoint]:
    return [Endpoint(**_endpoint(r)) for r in outbox.list_endpoints(db, who.key.account)]


@router.post("", response_model=NewEndpoint, status_code=201)
def add_endpoint(body: NewEndpointRequest, who: Caller = Depends(admin), db=Depends(deps.database),
                 cfg: Config = Depends(deps.config)) -> NewEndpoint:
    try:
        url = outbox.check_url(body.url, cfg.webhooks.allow_hosts)
        events = outbox.parse_events(body.events)
        webhook_targets.check_registration(url, webhook_targets.Policy.of(cfg.webhooks))
    except outbox.WebhookError as e:
        raise fail(400, "invalid_request", str(e)) from None
    row, secret = outbox.add_endpoint(db, who.key.account, url, events, cfg.tier_permissions())
    return NewEndpoint(**_endpoint(row), secret=secret)


@router.delete("/{endpoint_id}", status_code=204)
def remove_endpoint(endpoint_id: str, who: Caller = Depends(admin), db=Depends(deps.database)) -> Response:
    _own(db, who, endpoint_id)
    outbox.remove_endpoint(db, endpoint_id, who.key.account)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=RotatedSecret)
def rotate_secret(endpoint_id: str, who: Caller = Depends(admin), db=Depends(deps.database),
                  cfg: Config = Depends(deps.config)) -> RotatedSecret:
    _own(db, who, endpoint_id)
    row, secret = outbox.rotate_secret(db, endpoint_id, cfg.webhooks.rotation_grace_seconds, who.key.account)
    return RotatedSecret(id=row["id"], secret=secret, previous_secret_until=row["previous_secret_until"])


@router.get("/{endpoint_id}/deliveries", response_model=list[Delivery])
def deliveries(endpoint_id: str, who: Caller = Depends(admin), db=Depends(deps.database)) -> list[Delivery]:
    _own(db, who, endpoint_id)
    return [Delivery(**r) for r in outbox.deliveries(db, endpoint_id)]
