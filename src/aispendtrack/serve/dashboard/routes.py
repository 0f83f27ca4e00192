"""The dashboard's pages: `/` (login form, or the account's spend), login and logout, the
JSON the open page polls, the export download and the key actions. What a page shows
follows the API's role rules: owner/admin the whole account, member/viewer their own keys.

Key actions call the `/v1/keys` route functions themselves, so the dashboard follows the
API's rules (no escalation, tier caps) without a copy of them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from aispendtrack.auth.records import lookup
from aispendtrack.config import Config
from aispendtrack.limits.permissions import PERMISSIONS
from aispendtrack.serve import deps, roles
from aispendtrack.serve.attachment import content_disposition
from aispendtrack.serve.dashboard import connect, forms
from aispendtrack.serve.dashboard import period as chosen
from aispendtrack.serve.dashboard import session as sess
from aispendtrack.serve.dashboard import view
from aispendtrack.serve.models import NewKeyRequest
from aispendtrack.serve.routers import budgets as budgets_api
from aispendtrack.serve.routers import keys as keys_api
from aispendtrack.serve.routers.usage import _rows, own
from aispendtrack.store import sessions
from aispendtrack.store.base import SqlStore
from aispendtrack.store.db import utcnow
from aispendtrack.store.keytext import KEY_RE, PREFIX
from aispendtrack.views import reconcile as reconcile_view

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _html(request: Request, name: str, context: dict, status: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status, headers=HEADERS)


def _login(request: Request, error: str | None = None, status: int = 200) -> Response:
    return _html(request, "login.html", {"error": error}, status)


def _needs(viewer: sess.Viewer, permission: str, cfg: Config) -> str | None:
    """Why this viewer cannot use `permission` (None: it can), worded for the page."""
    if viewer.can(permission):
        return None
    if permission not in cfg.tier(viewer.record.tier).permissions:
        return "needs Pro"
    return f"needs a key with the {permission} permission"


def _choice(request: Request) -> chosen.Choice:
    """What the URL asks to show; `ValueError` naming the parameter."""
    return chosen.choice(request, utcnow().date())


def _dashboard(request: Request, store: SqlStore, cfg: Config, viewer: sess.Viewer, status: int = 200,
               choice: chosen.Choice | None = None, **extra) -> Response:
    who = roles.of(store, viewer.record)
    choice = choice or chosen.default(utcnow().date())
    data = view.page(store, cfg, viewer.record, member_id=own(who), period=choice.period, tag=choice.tag,
                     tag_by=choice.tag_by)
    can_keys = viewer.can("api")
    context = {
        **data, "picker": chosen.picker(choice),
        "viewer": viewer.record, "who": who, "csrf": viewer.csrf, "permissions": PERMISSIONS,
        "export_needs": _needs(viewer, "export", cfg), "keys_needs": _needs(viewer, "api", cfg),
        "keys": keys_api.list_keys(who=who, store=store, cfg=cfg) if can_keys else [],
        "reconcile": _reconcile_card(store, cfg, who),
        "notice": None, "error": None, "new_key": None,
        "budgets": budgets_api.list_budgets(who=who, store=store, cfg=cfg),
        "can_budget": can_keys and who.whole_account,
        # the empty state: no call at all in this view (whatever the period picked)
        "connect": None if data["latest"] or connect.has_calls(store, viewer.record.account, own(who))
        else connect.guide(cfg), **extra,
    }
    return _html(request, "dashboard.html", context, status)


def _reconcile_card(store: SqlStore, cfg: Config, who: roles.Caller) -> list[dict] | None:
    """The reconciliation card's entries (the account's share of the saved runs): owners and
    admins only, and only once there is a run or a schedule to make one."""
    if not who.whole_account:
        return None
    cards = reconcile_view.cards(store, who.key.account, cfg.reconcile.drift_usd)
    return cards if cards or cfg.reconcile.schedule == "daily" else None


@router.get("/")
def index(request: Request, store: SqlStore = Depends(deps.store), cfg: Config = Depends(deps.config)) -> Response:
    if PREFIX in request.url.query:
        return _login(request, "Keys are never accepted in a URL: paste the key into the form (and replace "
                      "that key: URLs end up in logs).", 400)
    viewer = sess.viewer(request, store, cfg)
    if viewer is None:
        return _login(request)
    try:
        choice = _choice(request)
    except ValueError as e:  # shown over the default view, so the picker is there to correct it
        return _dashboard(request, store, cfg, viewer, 400, error=f"Cannot show that period: {e}.")
    return _dashboard(request, store, cfg, viewer, choice=choice)


@router.post("/login")
async def login(request: Request) -> Response:
    if not sess.same_origin(request):
        return _login(request, "Log in from this page (the request came from another site).", 403)
    fields = await sess.form(request)
    key = sess.first(fields or {}, "key").strip()
    if not KEY_RE.fullmatch(key):
        return _login(request, f"That is not an AiSpendTrack key: paste a key that starts with {PREFIX}.", 401)

    def check() -> Response:
        cfg, store = request.app.state.config, request.app.state.store
        verdict = lookup(store, cfg, key)
        if verdict.reason is not None:
            return _login(request, f"This key cannot log in: {verdict.reason}.", 401)
        if sess.NEEDED not in verdict.record.permissions:
            return _login(request, "This key has no dashboard permission.", 403)
        hours = cfg.serve.session_hours
        new = store.create_session(verdict.record.digest, hours)
        response = RedirectResponse("/", status_code=303, headers=HEADERS)
        sess.set_cookie(response, request, new, hours)
        return response

    return await run_in_threadpool(check)


def _post(handler):
    """A session POST: same origin, a live session and its CSRF token, then `handler(store, cfg, viewer, fields)`."""

    async def route(request: Request) -> Response:
        fields = await sess.form(request)

        def run() -> Response:
            cfg, store = request.app.state.config, request.app.state.store
            viewer = sess.viewer(request, store, cfg)
            if viewer is None:
                return _login(request, "Your session ended: log in again.", 401)
            if not sess.same_origin(request) or fields is None or not sessions.csrf_ok(
                    viewer.session.id, sess.first(fields, "csrf")):
                return _dashboard(request, store, cfg, viewer, 403, error="That form was not sent from this page.")
            return handler(request, store, cfg, viewer, fields)

        return await run_in_threadpool(run)

    return route


def _logout(request, store, cfg, viewer, fields) -> Response:
    store.end_session(viewer.session.id)
    response = RedirectResponse("/", status_code=303, headers=HEADERS)
    sess.clear_cookie(response)
    return response


def _key_action(request, store, cfg, viewer, fields, action: str, key_id: str | None = None) -> Response:
    if (why := _needs(viewer, "api", cfg)) is not None:
        return _dashboard(request, store, cfg, viewer, 403, error=f"Managing keys {why}.")
    try:
        if action == "create":
            models = [m for m in sess.first(fields, "models").split(",") if m.strip()] or None
            body = NewKeyRequest(name=sess.first(fields, "name").strip()[:200] or None,
                                 permissions=fields.get("permissions", []), models=models,
                                 expires=forms.expiry(sess.first(fields, "expires")),
                                 tags=forms.tags(sess.first(fields, "tags")))
            new = keys_api.create_key(body, who=roles.of(store, viewer.record), store=store, cfg=cfg)
            return _dashboard(request, store, cfg, viewer, new_key=new, notice=f"Key {new.id} created.")
        if action == "rotate":
            new = keys_api.rotate_key(key_id, who=roles.of(store, viewer.record), store=store, cfg=cfg)
            return _dashboard(request, store, cfg, viewer, new_key=new, notice=f"Key {new.id} rotated.")
        keys_api.revoke_key(key_id, who=roles.of(store, viewer.record), store=store, cfg=cfg)
    except HTTPException as e:
        return _refused(request, store, cfg, viewer, e)
    if key_id == viewer.record.key_id:
        return _logout(request, store, cfg, viewer, fields)
    return _dashboard(request, store, cfg, viewer, notice=f"Key {key_id} revoked.")


def _refused(request, store, cfg, viewer, e: HTTPException) -> Response:
    """An API route's refusal shown on the page, with its status."""
    message = e.detail["message"] if isinstance(e.detail, dict) else str(e.detail)
    return _dashboard(request, store, cfg, viewer, e.status_code, error=message)


def _budget_action(request, store, cfg, viewer, fields) -> Response:
    """Set or clear the account's or one key's budget through the `/v1/budgets` route
    functions (their rules, exactness and 404 for another account's key); owner/admin only."""
    if (why := _needs(viewer, "api", cfg)) is not None:
        return _dashboard(request, store, cfg, viewer, 403, error=f"Setting budgets {why}.")
    target, action = sess.first(fields, "target"), sess.first(fields, "action")
    scope, key_id = ("account", None) if target == "account" else ("key", target or None)
    label = "the account" if scope == "account" else f"key {key_id}"
    try:
        who = roles.at_least("admin")(roles.of(store, viewer.record))  # the dependency /v1/budgets states
        if action == "clear":
            cleared = budgets_api.clear_budget(scope, key_id, who=who, store=store)["cleared"]
            return _dashboard(request, store, cfg, viewer, notice=f"Budget of {label} cleared." if cleared
                              else f"{label.capitalize()} had no budget of its own.")
        if action != "set":
            raise HTTPException(400, {"message": "action: set or clear"})
        body = forms.budget(scope, key_id, sess.first(fields, "usd"), sess.first(fields, "period"))
        b = budgets_api.set_budget(body, who=who, store=store, cfg=cfg)
    except HTTPException as e:
        return _refused(request, store, cfg, viewer, e)
    return _dashboard(request, store, cfg, viewer, notice=f"Budget of {label}: ${b['limit_usd']} per {b['period']} (UTC).")


router.add_api_route("/logout", _post(_logout), methods=["POST"])
router.add_api_route("/dashboard/budgets", _post(_budget_action), methods=["POST"])
router.add_api_route("/dashboard/keys", _post(lambda *a: _key_action(*a, action="create")), methods=["POST"])


@router.post("/dashboard/keys/{key_id}/{action}")
async def key_action(request: Request, key_id: str, action: str) -> Response:
    if action not in ("rotate", "revoke"):
        return Response(status_code=404)
    return await _post(lambda *a: _key_action(*a, action=action, key_id=key_id))(request)


def _viewer_or_401(request: Request, store: SqlStore, cfg: Config) -> sess.Viewer | JSONResponse:
    viewer = sess.viewer(request, store, cfg)
    if viewer is None:
        return JSONResponse({"error": {"type": "session_ended", "message": "log in again"}}, 401, headers=HEADERS)
    return viewer


def _choice_or_400(request: Request) -> chosen.Choice | JSONResponse:
    try:
        return _choice(request)
    except ValueError as e:
        return JSONResponse({"error": {"type": "invalid_request", "message": str(e)}}, 400, headers=HEADERS)


@router.get("/dashboard/live.json")
def live(request: Request, store: SqlStore = Depends(deps.store), cfg: Config = Depends(deps.config)) -> Response:
    viewer = _viewer_or_401(request, store, cfg)
    if isinstance(viewer, Response):
        return viewer
    if isinstance(choice := _choice_or_400(request), Response):
        return choice
    mine = own(roles.of(store, viewer.record))  # members and viewers see their own keys, as through /v1/usage
    data = view.live(store, cfg, viewer.record, member_id=mine, period=choice.period, tag=choice.tag)
    return JSONResponse(view.public(data), headers=HEADERS)


@router.get("/dashboard/export.{fmt}")
def export(request: Request, fmt: str, store: SqlStore = Depends(deps.store),
           cfg: Config = Depends(deps.config)) -> Response:
    viewer = _viewer_or_401(request, store, cfg)
    if isinstance(viewer, Response):
        return viewer
    if fmt not in ("csv", "jsonl"):
        return Response(status_code=404)
    if (why := _needs(viewer, "export", cfg)) is not None:
        return _dashboard(request, store, cfg, viewer, 403, error=f"Export {why}.")
    if isinstance(choice := _choice_or_400(request), Response):
        return choice
    name = chosen.export_name(viewer.record.account, choice, fmt)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    # members and viewers export their own calls, as through /v1/calls
    mine = own(roles.of(store, viewer.record))
    rows = _rows(request.app.state.store, fmt, choice.period.since, choice.period.until, viewer.record.account, mine,
                 choice.tag)
    return StreamingResponse(rows, media_type=media,
                             headers={**HEADERS, "Content-Disposition": content_disposition(name)})


@router.get("/dashboard/reconcile/{run_id}")
def reconcile_run(request: Request, run_id: int, store: SqlStore = Depends(deps.store),
                  cfg: Config = Depends(deps.config)) -> Response:
    """The account's share of one saved reconciliation (owners and admins: as `/v1/reconcile`)."""
    viewer = sess.viewer(request, store, cfg)
    if viewer is None:
        return _login(request, None, 401)
    if not roles.of(store, viewer.record).whole_account:
        return _dashboard(request, store, cfg, viewer, 403, error="Reconciliations are for owners and admins.")
    run = store.get_reconcile_run(run_id, viewer.record.account) if 0 < run_id < 2**62 else None
    if run is None:
        return _dashboard(request, store, cfg, viewer, 404, error=f"No reconciliation run {run_id} for this account.")
    return _html(request, "reconcile_run.html", {"viewer": viewer.record, **reconcile_view.run_page(
        store, run, viewer.record.account, cfg.reconcile.drift_usd)})
