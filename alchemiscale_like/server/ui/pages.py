"""The dashboard's pages and live fragments; every key is checked against the session's scopes.

Pages read through :mod:`alchemiscale_like.services.overview`; a key outside the
identity's scopes is answered exactly like an unknown one (404), and lists hold
only what the identity may see. Each live table has a fragment route the page's
script polls (``X-Requested-With: fetch``), so progress changes without a reload.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from alchemiscale_like.errors import AuthenticationFailed
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.task import parse_status
from alchemiscale_like.server.auth import AppState, State
from alchemiscale_like.server.routes.common import in_thread, scoped_key
from alchemiscale_like.server.ui.charts import estimate_chart
from alchemiscale_like.server.ui.rendering import render
from alchemiscale_like.server.ui.session import (
    LOGIN_CSRF_COOKIE,
    Session,
    base_path,
    check_csrf,
    check_login_csrf,
    clear_cookies,
    current_session,
    issue_token,
    new_login_csrf,
    new_session_id,
    set_login_csrf_cookie,
    set_session_cookie,
    set_session_id_cookie,
)
from alchemiscale_like.services import overview
from alchemiscale_like.services.files import open_recorded_file
from alchemiscale_like.services.identities import authenticate
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.statestore.rules import parse_network_state

router = APIRouter()

#: Transformations per page of a network's table.
PAGE_SIZE = 100
#: Where ``next`` may send the browser after login: a path of this dashboard only.
_NEXT_PATTERN = re.compile(r"/[A-Za-z0-9/_.~%?=&+-]{0,500}")


async def _session(request: Request, state: State) -> Session:
    session = await current_session(request, state)
    request.state.ui_session = session  # an error page still shows who is logged in
    return session


UISession = Annotated[Session, Depends(_session)]


def _page(
    request: Request, session: Session, template: str, context: dict[str, object]
) -> HTMLResponse:
    response = render(request, template, {"session": session, "csrf": session.csrf, **context})
    if session.renewed is not None:
        set_session_cookie(response, request, request.app.state.alchemiscale, session.renewed)
    return response


def _visible(session: Session, text: str) -> ScopedKey:
    key = scoped_key(text)
    session.identity.require_visible(key)
    return key


# -- login ----------------------------------------------------------------------------------


def _safe_next(request: Request, target: str | None) -> str:
    base = base_path(request)
    fallback = f"{base}/networks"
    if not target or _NEXT_PATTERN.fullmatch(target) is None or "//" in target:
        return fallback
    return target if target.startswith(f"{base}/") else fallback


@router.get("/", include_in_schema=False)
def home(request: Request) -> RedirectResponse:
    """The dashboard starts at the network list."""
    return RedirectResponse(f"{base_path(request)}/networks", status_code=303)


def _login_form(
    request: Request, next_url: str | None, error: str | None, status_code: int = 200
) -> HTMLResponse:
    token = new_login_csrf()
    response = render(
        request,
        "login.html",
        {"csrf": token, "next": _safe_next(request, next_url), "error": error},
        status_code,
    )
    set_login_csrf_cookie(response, request, token)
    return response


@router.get("/login")
def login_form(
    request: Request, next_url: Annotated[str | None, Query(alias="next", max_length=600)] = None
) -> HTMLResponse:
    """The login form (identifier and key of a user identity)."""
    return _login_form(request, next_url, None)


@router.post("/login")
async def login(
    request: Request,
    state: State,
    identifier: Annotated[str, Form(max_length=128)],
    key: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str | None, Form(max_length=64)] = None,
    next_url: Annotated[str | None, Form(alias="next", max_length=600)] = None,
) -> Response:
    """Check the identity's key; on success the session cookie is set and the browser
    goes where it was going."""
    check_login_csrf(request, csrf_token)
    try:
        identity = await in_thread(
            authenticate, state.stores.statestore, state.kind, identifier, key
        )
    except AuthenticationFailed:
        return _login_form(request, next_url, "Unknown identity or wrong key.", 401)
    response = RedirectResponse(_safe_next(request, next_url), status_code=303)
    token = issue_token(state, identity.identifier, identity.scopes)
    set_session_cookie(response, request, state, token)
    set_session_id_cookie(response, request, new_session_id())
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=base_path(request) or "/")
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: UISession,
    csrf_token: Annotated[str | None, Form(max_length=64)] = None,
) -> RedirectResponse:
    """End the session (both cookies are deleted)."""
    check_csrf(session, csrf_token)
    response = RedirectResponse(f"{base_path(request)}/login", status_code=303)
    clear_cookies(response, request)
    return response


# -- networks -------------------------------------------------------------------------------


@router.get("/networks")
async def networks(
    request: Request,
    session: UISession,
    state: State,
    network_state: Annotated[str | None, Query(alias="state", max_length=16)] = None,
) -> HTMLResponse:
    """Every network in the identity's scopes with its Task counts."""
    wanted = parse_network_state(network_state) if network_state else None
    found = await in_thread(
        overview.networks_in_scopes,
        state.stores,
        session.identity.query_scopes(None),
        wanted,
    )
    return _page(
        request, session, "networks.html", {"networks": found, "state_filter": wanted or ""}
    )


def _network_table_context(
    view: overview.NetworkView, page: int, name: str | None
) -> dict[str, object]:
    rows = view.transformations
    if name:
        rows = [t for t in rows if name.lower() in t.name.lower()]
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    return {
        "view": view,
        "rows": rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        "matching": len(rows),
        "page": page,
        "pages": pages,
        "name_filter": name or "",
        "query": f"page={page}" + (f"&q={quote(name)}" if name else ""),
    }


Page = Annotated[int, Query(ge=1, le=100_000)]
NameFilter = Annotated[str | None, Query(alias="q", max_length=100)]


async def _network_answer(
    request: Request,
    session: Session,
    state: AppState,
    network: str,
    page: int,
    name: str | None,
    template: str,
) -> HTMLResponse:
    view = await in_thread(overview.network_view, state.stores, _visible(session, network))
    return _page(request, session, template, _network_table_context(view, page, name))


@router.get("/networks/{network}")
async def network(
    request: Request,
    session: UISession,
    state: State,
    network: str,
    page: Page = 1,
    name: NameFilter = None,
) -> HTMLResponse:
    """One network: its transformations with Task counts and unit progress (live)."""
    return await _network_answer(request, session, state, network, page, name, "network.html")


@router.get("/networks/{network}/table")
async def network_table(
    request: Request,
    session: UISession,
    state: State,
    network: str,
    page: Page = 1,
    name: NameFilter = None,
) -> HTMLResponse:
    """The live part of the network page."""
    return await _network_answer(
        request, session, state, network, page, name, "_network_table.html"
    )


@router.get("/networks/{network}/estimates")
async def network_estimates(
    request: Request, session: UISession, state: State, network: str
) -> HTMLResponse:
    """The estimate chart of a network's transformations (an SVG fragment)."""
    found = await in_thread(overview.network_estimates, state.stores, _visible(session, network))
    return _page(request, session, "_estimates.html", {"chart": estimate_chart(found)})


# -- transformations and tasks --------------------------------------------------------------


async def _view_page(
    request: Request,
    session: Session,
    state: AppState,
    load: Callable[[Stores, ScopedKey], object],
    key: str,
    template: str,
) -> HTMLResponse:
    """``template`` with ``view`` = ``load`` of the visible key ``key``."""
    view = await in_thread(load, state.stores, _visible(session, key))
    return _page(request, session, template, {"view": view})


@router.get("/transformations/{transformation}")
async def transformation(
    request: Request, session: UISession, state: State, transformation: str
) -> HTMLResponse:
    """One transformation: its Tasks with status, progress and claimant (live)."""
    return await _view_page(
        request, session, state, overview.transformation_view, transformation, "transformation.html"
    )


@router.get("/transformations/{transformation}/table")
async def transformation_table(
    request: Request, session: UISession, state: State, transformation: str
) -> HTMLResponse:
    """The live part of the transformation page."""
    return await _view_page(
        request,
        session,
        state,
        overview.transformation_view,
        transformation,
        "_transformation_table.html",
    )


@router.get("/tasks/{task}")
async def task(request: Request, session: UISession, state: State, task: str) -> HTMLResponse:
    """One Task: its DAG's units, failures with tracebacks, result files and results."""
    return await _view_page(request, session, state, overview.task_view, task, "task.html")


@router.get("/tasks/{task}/live")
async def task_live(request: Request, session: UISession, state: State, task: str) -> HTMLResponse:
    """The live part of the task page."""
    return await _view_page(request, session, state, overview.task_view, task, "_task_live.html")


@router.post("/tasks/{task}/status")
async def set_task_status(
    request: Request,
    session: UISession,
    state: State,
    task: str,
    status: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str | None, Form(max_length=64)] = None,
) -> RedirectResponse:
    """Move the Task to ``waiting`` (restart), ``invalid`` or ``deleted`` (CSRF-checked)."""
    check_csrf(session, csrf_token)
    sk = _visible(session, task)
    await in_thread(state.stores.statestore.set_task_status, [sk], parse_status(status))
    return RedirectResponse(f"{base_path(request)}/tasks/{sk}", status_code=303)


@router.get("/tasks/{task}/files/{location:path}")
async def download_file(
    session: UISession, state: State, task: str, location: str
) -> StreamingResponse:
    """A recorded result file's bytes, streamed (sha256 checked as they go)."""
    ref, chunks = await in_thread(
        open_recorded_file, state.stores, _visible(session, task), location
    )
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(ref.size),
            "X-Content-SHA256": ref.sha256,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(ref.name, safe='')}",
        },
    )


# -- compute services -----------------------------------------------------------------------


@router.get("/services")
async def services(request: Request, session: UISession, state: State) -> HTMLResponse:
    """Registered compute services: heartbeat age, Tasks held (in scope), claim rate."""
    found = await in_thread(overview.compute_services, state.stores, session.identity.can_see)
    return _page(request, session, "services.html", {"services": found})


@router.get("/services/table")
async def services_table(request: Request, session: UISession, state: State) -> HTMLResponse:
    """The live part of the services page."""
    found = await in_thread(overview.compute_services, state.stores, session.identity.can_see)
    return _page(request, session, "_services_table.html", {"services": found})
