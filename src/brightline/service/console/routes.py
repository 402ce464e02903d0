"""The reviewer console under /console: login, queue, item view with blurred media, decisions.

Server-rendered HTML with no external assets. Database work runs on the threadpool; every
form post checks the session's CSRF token; media leave the server blurred until a reviewer
reveals them, and every decryption of evidence is logged by the evidence store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from brightline.errors import (
    AuthenticationError,
    BrightlineError,
    CaseStateError,
    EvidenceNotFoundError,
    PermissionDeniedError,
)
from brightline.review.types import CaseInfo
from brightline.service.console import media
from brightline.service.console.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Login,
    check_csrf,
    clear_cookie,
    current_login,
    login_csrf,
    new_login_csrf,
    read_form,
    require_admin,
    set_cookie,
)
from brightline.service.console.details import scan_details
from brightline.service.console.pages import STATIC_DIR, STATIC_TYPES, page, redirect, secure
from brightline.service.state import ServiceState, get_state
from brightline.store.models import utcnow
from brightline.store.models_cases import CLASSIFICATIONS

router = APIRouter(prefix="/console", include_in_schema=False)
DOMAINS = ("csam", "ncii", "terrorism", "other")
QUEUE_PAGE = 100


def _error_page(exc: BrightlineError, login: Login | None = None) -> Response:
    return page("error.html", status_code=exc.http_status, message=str(exc), code=exc.code, login=login)


async def _guarded(request: Request, handler: Callable[[ServiceState, Login], Response]) -> Response:
    """Run a logged-in page handler on the threadpool: no login goes to the login form, errors become a page."""
    state = get_state(request)
    try:
        login = await run_in_threadpool(current_login, request, state)
    except AuthenticationError:
        return redirect("/console/login")
    try:
        return await run_in_threadpool(handler, state, login)
    except AuthenticationError:
        return redirect("/console/login")
    except BrightlineError as exc:
        return _error_page(exc, login)


async def _posted(request: Request, handler: Callable[[ServiceState, Login, dict[str, str]], Response]) -> Response:
    """Like _guarded for form posts, after checking the session's CSRF token (403 without it)."""
    try:
        form = await read_form(request)
    except BrightlineError as exc:
        return _error_page(exc)

    def checked(state: ServiceState, login: Login) -> Response:
        check_csrf(login.session.csrf_token, form)
        return handler(state, login, form)

    return await _guarded(request, checked)


# --- login ------------------------------------------------------------------------------


def _login_form(request: Request, state: ServiceState, *, error: str = "", status_code: int = 200) -> Response:
    token = new_login_csrf()
    response = page("login.html", status_code=status_code, csrf=token, error=error, login=None)
    set_cookie(response, request, state, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("")
@router.get("/")
async def console_home() -> Response:
    """The queue is the console's front page."""
    return redirect("/console/queue")


@router.get("/login")
async def login_page(request: Request) -> Response:
    """The login form."""
    return _login_form(request, get_state(request))


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """Check the credentials, start a session and go to the queue."""
    state = get_state(request)
    try:
        form = await read_form(request)
        check_csrf(login_csrf(request), form)
    except BrightlineError as exc:
        return _login_form(request, state, error=str(exc), status_code=exc.http_status)
    try:
        reviewer = await run_in_threadpool(
            state.reviewers.authenticate, form.get("username", ""), form.get("password", "")
        )
        minutes = state.settings.console_session_minutes
        token, _csrf = await run_in_threadpool(state.reviewers.start_session, reviewer.id, minutes)
    except AuthenticationError as exc:
        return _login_form(request, state, error=str(exc), status_code=401)
    response = redirect("/console/queue")
    set_cookie(response, request, state, SESSION_COOKIE, token, max_age=minutes * 60)
    clear_cookie(response, request, state, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session."""

    def handle(state: ServiceState, login: Login, _form: dict[str, str]) -> Response:
        state.reviewers.end_session(login.token)
        response = redirect("/console/login")
        clear_cookie(response, request, state, SESSION_COOKIE)
        return response

    return await _posted(request, handle)


# --- queue ------------------------------------------------------------------------------


def _needs_break(state: ServiceState, login: Login) -> bool:
    minutes = state.settings.review_break_minutes
    if minutes <= 0:
        return False
    since = login.session.break_reminded_at or login.session.created_at
    return utcnow() - since >= timedelta(minutes=minutes)


def _common(state: ServiceState, login: Login) -> dict[str, Any]:
    """What every logged-in page shows: who, the CSRF token, today's count against the cap, a break reminder."""
    return {
        "login": login,
        "csrf": login.session.csrf_token,
        "decided_today": state.queue.decided_today(login.reviewer.id),
        "cap": state.queue.cap_for(login.reviewer.id),
        "needs_break": _needs_break(state, login),
        "break_minutes": state.settings.review_break_minutes,
    }


@router.get("/queue")
async def queue_page(request: Request) -> Response:
    """Pending items, most urgent first, with claim buttons."""
    notice = request.query_params.get("notice", "")[:200]

    def handle(state: ServiceState, login: Login) -> Response:
        names = {r.id: r.username for r in state.reviewers.list()}
        return page(
            "queue.html",
            cases=state.queue.pending(limit=QUEUE_PAGE),
            pending=state.queue.count_pending(),
            names=names,
            notice=notice,
            **_common(state, login),
        )

    return await _guarded(request, handle)


@router.post("/break")
async def take_break(request: Request) -> Response:
    """Dismiss the break reminder; the next one comes after another break interval."""

    def handle(state: ServiceState, login: Login, _form: dict[str, str]) -> Response:
        state.reviewers.remind_break(login.token)
        return redirect("/console/queue")

    return await _posted(request, handle)


@router.post("/next")
async def next_item(request: Request) -> Response:
    """Claim the most urgent unclaimed item and open it."""

    def handle(state: ServiceState, login: Login, _form: dict[str, str]) -> Response:
        try:
            case = state.queue.claim_next(login.reviewer.id)
        except BrightlineError as exc:
            if exc.http_status == 404:
                return redirect("/console/queue?notice=The+queue+is+empty")
            raise
        return redirect(f"/console/cases/{case.id}")

    return await _posted(request, handle)


# --- one item ---------------------------------------------------------------------------


def _revealed(state: ServiceState, login: Login, case_id: int) -> bool:
    """Whether this login revealed this case's media (the clear view is refused otherwise)."""
    return any(
        e.action == "viewed" and e.details.get("session") == login.session.id for e in state.queue.history(case_id)
    )


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: int) -> Response:
    """The item view; opening an open item claims it for this reviewer."""

    def handle(state: ServiceState, login: Login) -> Response:
        case = state.queue.get(case_id)
        claim_note = ""
        if case.is_open and case.claimed_by != login.reviewer.id:
            try:
                case = state.queue.claim(case_id, login.reviewer.id)
            except CaseStateError:
                claim_note = "Another reviewer holds this item." + (
                    " As an admin you may still decide it." if login.reviewer.is_admin else ""
                )
        details = scan_details(state.db, case.scan_id)
        history = (
            [c for c in state.queue.account_history(case.account_id) if c.id != case.id] if case.account_id else []
        )
        can_decide = case.is_open and (case.claimed_by == login.reviewer.id or login.reviewer.is_admin)
        return page(
            "case.html",
            case=case,
            details=details,
            account_cases=history,
            events=state.queue.history(case_id),
            revealed=_revealed(state, login, case_id),
            has_media=_evidence_id(state, case) is not None,
            claim_note=claim_note,
            can_decide=can_decide,
            classifications=CLASSIFICATIONS,
            domains=DOMAINS,
            **_common(state, login),
        )

    return await _guarded(request, handle)


@router.post("/cases/{case_id}/claim")
async def claim_case(request: Request, case_id: int) -> Response:
    """Claim an item from the queue and open it."""

    def handle(state: ServiceState, login: Login, _form: dict[str, str]) -> Response:
        state.queue.claim(case_id, login.reviewer.id)
        return redirect(f"/console/cases/{case_id}")

    return await _posted(request, handle)


@router.post("/cases/{case_id}/release")
async def release_case(request: Request, case_id: int) -> Response:
    """Give the item back to the queue."""

    def handle(state: ServiceState, login: Login, _form: dict[str, str]) -> Response:
        state.queue.release(case_id, login.reviewer.id)
        return redirect("/console/queue")

    return await _posted(request, handle)


@router.post("/cases/{case_id}/reveal")
async def reveal_case(request: Request, case_id: int) -> Response:
    """Record that the reviewer chose to see the media, then show it clear (to this login only)."""

    def handle(state: ServiceState, login: Login, _form: dict[str, str]) -> Response:
        state.queue.mark_viewed(case_id, login.reviewer.id, session_id=login.session.id)
        return redirect(f"/console/cases/{case_id}#media")

    return await _posted(request, handle)


def _evidence_id(state: ServiceState, case: CaseInfo) -> int | None:
    if state.evidence is None or case.scan_id is None:
        return None
    try:
        return state.evidence.for_scan(case.scan_id).id
    except EvidenceNotFoundError:
        return None


@router.get("/cases/{case_id}/media")
async def case_media(request: Request, case_id: int, view: str = "blurred") -> Response:
    """The item's media as JPEG: blurred greyscale, or clear once this login revealed it."""
    if view not in ("blurred", "clear"):
        return secure(Response("view must be blurred or clear", status_code=422, media_type="text/plain"))

    def handle(state: ServiceState, login: Login) -> Response:
        case = state.queue.get(case_id)
        if view == "clear" and not _revealed(state, login, case_id):
            raise PermissionDeniedError("reveal the media before viewing it clear")
        evidence_id = _evidence_id(state, case)
        if evidence_id is None or state.evidence is None:
            body = media.encode_jpeg(media.placeholder("no media kept for this item"))
        else:
            data = state.evidence.read(
                evidence_id, actor=login.reviewer.label, purpose=f"review of case {case_id} ({view})"
            )
            body = media.render(data, revealed=view == "clear")
        return secure(Response(body, media_type="image/jpeg"))

    state = get_state(request)
    try:
        login = await run_in_threadpool(current_login, request, state)
        return await run_in_threadpool(handle, state, login)
    except BrightlineError as exc:
        return secure(Response(str(exc), status_code=exc.http_status, media_type="text/plain"))


def _flag(form: dict[str, str], name: str) -> bool:
    return form.get(name, "") in ("on", "1", "true", "yes")


@router.post("/cases/{case_id}/decide")
async def decide_case(request: Request, case_id: int) -> Response:
    """Confirm, mark false positive or escalate; then back to the queue."""

    def handle(state: ServiceState, login: Login, form: dict[str, str]) -> Response:
        decision = form.get("decision", "")
        confirm = decision == "confirm"
        false_positive = decision == "false_positive"
        state.queue.decide(
            case_id,
            login.reviewer.id,
            decision,
            classification=(form.get("classification") or None) if confirm else None,
            domain=(form.get("domain") or None) if confirm else None,
            disable_entry=false_positive and _flag(form, "disable_entry"),
            negative_bank=(form.get("negative_bank", "").strip() or None) if false_positive else None,
            note=form.get("note", "").strip(),
        )
        label = {"confirm": "confirmed", "false_positive": "marked false positive", "escalate": "escalated"}
        return redirect(f"/console/queue?notice=Item+{case_id}+{label.get(decision, 'decided').replace(' ', '+')}")

    return await _posted(request, handle)


# --- admin and assets -------------------------------------------------------------------


@router.get("/reviewers")
async def reviewers_page(request: Request) -> Response:
    """Admins: every reviewer account."""

    def handle(state: ServiceState, login: Login) -> Response:
        require_admin(login)
        return page("reviewers.html", reviewers=state.reviewers.list(), **_common(state, login))

    return await _guarded(request, handle)


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    """The console's own stylesheet and script (nothing else is served from here)."""
    path = STATIC_DIR / name
    media_type = STATIC_TYPES.get(path.suffix)
    if media_type is None or path.name != name or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    response = Response(path.read_bytes(), media_type=media_type)
    response.headers["Cache-Control"] = "no-cache"
    return response
