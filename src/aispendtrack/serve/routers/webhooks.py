"""`/v1/webhooks`: the account's webhook endpoints and their deliveries (needs `webhooks`
and an owner/admin key). A signing secret is in the creating or rotating answer only."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from aispendtrack.config import Config
from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.serve import webhook_targets
from aispendtrack.serve.roles import Caller, at_least
from aispendtrack.store import webhook_endpoints
from aispendtrack.store.base import SqlStore
from aispendtrack.store.records import Endpoint as Held

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


def _endpoint(e: Held) -> dict:
    return {"id": e.id, "url": e.url, "events": None if e.events is None else list(e.events), "created": e.created,
            "disabled": e.disabled, "disabled_reason": e.disabled_reason, "paused": e.paused,
            "previous_secret_until": e.previous_secret_until, "state": e.state}


def _own(store: SqlStore, who: Caller, endpoint_id: str) -> Held:
    try:
        return store.get_endpoint(endpoint_id, who.key.account)
    except webhook_endpoints.WebhookError as e:
        raise fail(404, "not_found", str(e)) from None


@router.get("", response_model=list[Endpoint])
def list_endpoints(who: Caller = Depends(admin), store: SqlStore = Depends(deps.store)) -> list[Endpoint]:
    return [Endpoint(**_endpoint(e)) for e in store.list_endpoints(who.key.account)]


@router.post("", response_model=NewEndpoint, status_code=201)
def add_endpoint(body: NewEndpointRequest, who: Caller = Depends(admin), store: SqlStore = Depends(deps.store),
                 cfg: Config = Depends(deps.config)) -> NewEndpoint:
    try:
        url = webhook_endpoints.check_url(body.url, cfg.webhooks.allow_hosts)
        events = webhook_endpoints.parse_events(body.events)
        webhook_targets.check_registration(url, webhook_targets.Policy.of(cfg.webhooks))
    except webhook_endpoints.WebhookError as e:
        raise fail(400, "invalid_request", str(e)) from None
    endpoint, secret = store.add_endpoint(who.key.account, url, events, cfg.tier_permissions())
    return NewEndpoint(**_endpoint(endpoint), secret=secret)


@router.delete("/{endpoint_id}", status_code=204)
def remove_endpoint(endpoint_id: str, who: Caller = Depends(admin), store: SqlStore = Depends(deps.store)) -> Response:
    _own(store, who, endpoint_id)
    store.remove_endpoint(endpoint_id, who.key.account)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=RotatedSecret)
def rotate_secret(endpoint_id: str, who: Caller = Depends(admin), store: SqlStore = Depends(deps.store),
                  cfg: Config = Depends(deps.config)) -> RotatedSecret:
    _own(store, who, endpoint_id)
    endpoint, secret = store.rotate_secret(endpoint_id, cfg.webhooks.rotation_grace_seconds, who.key.account)
    return RotatedSecret(id=endpoint.id, secret=secret, previous_secret_until=endpoint.previous_secret_until)


@router.get("/{endpoint_id}/deliveries", response_model=list[Delivery])
def deliveries(endpoint_id: str, who: Caller = Depends(admin), store: SqlStore = Depends(deps.store)) -> list[Delivery]:
    _own(store, who, endpoint_id)
    return [Delivery(**asdict(a)) for a in store.deliveries(endpoint_id)]
