"""The public status page under ``/status``: HTML pages, the Atom feed and the email
subscription forms. No sign-in; every response is rendered from
:mod:`tocsin.statuspage.public`, which holds only what customers may see.

CSRF: these pages have no session, cookie or other ambient authority for a forged
request to ride on, so the classic attack has nothing to steal. What remains is handled
where it matters: subscribing someone else only sends them a confirmation link (double
opt-in), and a browser's cross-site POST to the subscribe form is refused by its
``Sec-Fetch-Site``/``Origin`` headers (defence in depth against being used to send
confirmation emails). The unsubscribe POST is cross-site by design (RFC 8058: the mail
provider posts it) and is authorised by the unguessable token alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.errors import InvalidInput
from tocsin.policy import Policy
from tocsin.statuspage import public, subscribers
from tocsin.statuspage.feed import MEDIA_TYPE, atom_feed
from tocsin.web.deps import CurrentPolicy, NowClock, SessionDep
from tocsin.web.pages import render
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/status", include_in_schema=False)

Code = Annotated[str, Path(min_length=1, max_length=32)]
Token = Annotated[str, Query(max_length=200)]


def _site(policy: Policy) -> dict[str, Any]:
    settings = policy.status_page
    return {
        "name": settings.title,
        "time_zone": settings.time_zone,
        "tz": ZoneInfo(settings.time_zone),
        "subscriptions": settings.subscriptions,
    }


def _message(
    policy: Policy,
    heading: str,
    text: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HTMLResponse:
    context = {"form": None, **extra}
    return render(
        "status/message.html",
        status_code=status_code,
        headers=headers,
        site=_site(policy),
        heading=heading,
        text=text,
        **context,
    )


async def read_form(request: Request) -> dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` body (first value each)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return {}
    body = await request.body()
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in fields.items()}


Form = Annotated[dict[str, str], Depends(read_form)]


def same_origin(request: Request, policy: CurrentPolicy) -> None:
    """Refuse a browser's cross-site form post (scripts and curl send neither header)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site == "cross-site":
            raise HTTPException(status_code=403, detail="cross-site form posts are refused")
        return
    origin = request.headers.get("origin")
    if origin is None:
        return
    allowed = {request.headers.get("host", ""), urlsplit(policy.status_page.url).netloc}
    if urlsplit(origin).netloc not in allowed:
        raise HTTPException(status_code=403, detail="cross-site form posts are refused")


SameOrigin = Annotated[None, Depends(same_origin)]


@router.get("")
def status_page(
    request: Request, session: SessionDep, policy: CurrentPolicy, clock: NowClock
) -> HTMLResponse:
    """The front page. During an outage customers reload it by the thousand, in the
    process that pages people: it is built once per change (or minute) and policy, and
    then served from memory (:func:`tocsin.statuspage.public.page_key`)."""
    now = clock.now()
    key = public.page_key(session=session, now=now)
    cached: _Built | None = getattr(request.app.state, _FRONT_PAGE, None)
    if cached is not None and cached.policy is policy and cached.key == key:
        return _copy(cached.page)
    view = public.load_page(session=session, policy=policy, now=now)
    built = render("status/index.html", site=_site(policy), view=view)
    setattr(request.app.state, _FRONT_PAGE, _Built(policy, key, built))
    return _copy(built)


@dataclass(frozen=True)
class _Built:
    policy: Policy
    key: tuple[object, ...]
    page: HTMLResponse


#: Where the front page's last rendering is kept, with its key.
_FRONT_PAGE = "status_front_page"


def _copy(page: HTMLResponse) -> HTMLResponse:
    """A response of its own for each request, sharing the rendered body."""
    return HTMLResponse(page.body, status_code=page.status_code, headers={**page.headers})


@router.get("/incidents/{code}")
def incident_page(code: Code, session: SessionDep, policy: CurrentPolicy) -> HTMLResponse:
    incident = public.load_incident(session=session, code=code)
    if incident is None:
        return _message(policy, "Not found", "There is no such incident.", status_code=404)
    return render("status/incident.html", site=_site(policy), incident=incident)


@router.get("/maintenances/{code}")
def maintenance_page(
    code: Code, session: SessionDep, policy: CurrentPolicy, clock: NowClock
) -> HTMLResponse:
    maintenance = public.load_maintenance(session=session, code=code, now=clock.now())
    if maintenance is None:
        return _message(policy, "Not found", "There is no such maintenance.", status_code=404)
    return render("status/maintenance.html", site=_site(policy), maintenance=maintenance)


@router.get("/history")
def history_page(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    history = public.load_history(session=session, now=clock.now(), page=page)
    return render("status/history.html", site=_site(policy), history=history)


@router.get("/feed.atom")
def feed(session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> Response:
    view = public.load_page(session=session, policy=policy, now=clock.now(), with_uptime=False)
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(atom_feed(view), media_type=f"{MEDIA_TYPE}; charset=utf-8", headers=headers)


@router.post("/subscribe")
def subscribe(
    form: Form, session: SessionDep, policy: CurrentPolicy, clock: NowClock, _: SameOrigin
) -> HTMLResponse:
    if not policy.status_page.subscriptions:
        return _message(policy, "Not found", "Subscriptions are not offered.", status_code=404)
    email = form.get("email", "")
    try:
        subscribers.subscribe(session=session, policy=policy, email=email, now=clock.now())
    except InvalidInput as exc:
        return _message(
            policy,
            "Subscribe to updates",
            "The address could not be used.",
            status_code=422,
            form="subscribe",
            email=email[:200],
            error=exc.message,
        )
    hours = int(subscribers.CONFIRM_TTL.total_seconds() // 3600)
    return _message(
        policy,
        "Check your inbox",
        f"If {email.strip()} can receive email, a confirmation link is on its way. "
        f"Open it within {hours} hours to start receiving updates.",
    )


@router.get("/subscribe/confirm")
def confirm(
    session: SessionDep, policy: CurrentPolicy, clock: NowClock, token: Token = ""
) -> HTMLResponse:
    outcome = subscribers.confirm(session=session, token=token, now=clock.now())
    if outcome is subscribers.ConfirmOutcome.confirmed:
        return _message(
            policy,
            "Subscription confirmed",
            "You will receive an email when we post an update. Each one has a link to unsubscribe.",
        )
    if outcome is subscribers.ConfirmOutcome.expired:
        return _message(
            policy,
            "Link expired",
            "This confirmation link has expired. Subscribe again to get a new one.",
            status_code=410,
            form="subscribe",
        )
    return _message(
        policy,
        "Link not valid",
        "This confirmation link is not valid or was already used.",
        status_code=404,
    )


@router.get("/unsubscribe")
def unsubscribe_page(policy: CurrentPolicy, token: Token = "") -> HTMLResponse:
    """A page with one button. A GET never unsubscribes: mail scanners open links."""
    if not token:
        return _message(policy, "Link not valid", "This link has no token.", status_code=400)
    return _message(
        policy,
        "Unsubscribe",
        "Stop receiving status updates by email?",
        form="unsubscribe",
        token=token,
    )


@router.post("/unsubscribe")
def unsubscribe(
    form: Form, session: SessionDep, policy: CurrentPolicy, token: Token = ""
) -> HTMLResponse:
    """One-click unsubscribe (RFC 8058): the mail provider posts
    ``List-Unsubscribe=One-Click`` to the URL of the ``List-Unsubscribe`` header.
    The answer is the same whether or not the token was still known."""
    subscribers.unsubscribe(session=session, token=token or form.get("token", ""))
    return _message(
        policy,
        "Unsubscribed",
        "This address will not receive status updates any more.",
        headers={"Cache-Control": "no-store"},
    )
