"""Dashboard sessions: a signed cookie, and the dependencies that read it.

The cookie (``tocsin_session``) holds the user's id, the user's ``session_epoch`` when
it was issued, the session's CSRF token and when it was issued, signed with the
server's key (:mod:`tocsin.web.dashboard.secret`). It is HttpOnly, SameSite=Lax,
Secure when the page was served over HTTPS, and expires after
:data:`SESSION_LIFETIME` (measured with the server's clock). A visitor who has not
signed in gets a cookie without a user, whose CSRF token protects the sign-in form.
Every request checks the user against the database: disabling the user or changing the
password (both raise ``session_epoch``) ends every session at once.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeSerializer

from tocsin.auth import Principal, Role
from tocsin.auth.models import User
from tocsin.auth.users import principal_of, session_user
from tocsin.web.context import AppContext
from tocsin.web.dashboard.secret import signing_key
from tocsin.web.deps import caller_session, get_principal

__all__ = [
    "FLASH_COOKIE",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "CookieSession",
    "DashboardForbidden",
    "Flash",
    "LoginRequired",
    "SignedIn",
    "anonymous_session",
    "bearer_or_session",
    "clear_session",
    "drop_flash",
    "login_url",
    "read_flash",
    "read_session",
    "safe_next",
    "send_session",
    "set_flash",
    "signed_in",
    "start_session",
    "user_session",
]

SESSION_COOKIE = "tocsin_session"
FLASH_COOKIE = "tocsin_flash"
SESSION_LIFETIME = timedelta(hours=12)
_FLASH_LIFETIME = 300
_DEFAULT_NEXT = "/dashboard"


class LoginRequired(Exception):
    """Raised by a page that needs a signed-in user; answered with a redirect to the
    sign-in page that comes back to ``next`` afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


class DashboardForbidden(Exception):
    """The signed-in user's role does not allow the action (answered with a 403 page)."""


@dataclass(frozen=True)
class CookieSession:
    user_id: int | None
    epoch: int
    csrf: str
    issued_at: float


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user of a request, and the CSRF token of their session."""

    user_id: int
    username: str
    role: Role
    person: str | None
    csrf: str

    @property
    def principal(self) -> Principal:
        return Principal(name=self.username, role=self.role, person=self.person)


@dataclass(frozen=True)
class Flash:
    kind: str  # "ok" or "error"
    message: str


# ---------------------------------------------------------------- signing

_signer_lock = threading.Lock()


def _context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def _serializer(request: Request, salt: str) -> URLSafeSerializer:
    """One serializer per app and purpose; the key is read (or made) on first use."""
    state = request.app.state
    with _signer_lock:
        key = getattr(state, "dashboard_key", None)
        if key is None:
            key = signing_key(_context(request).settings)
            state.dashboard_key = key
    return URLSafeSerializer(key, salt=salt)


def _encode(request: Request, salt: str, payload: Any) -> str:
    return str(_serializer(request, salt).dumps(payload))


def _decode(request: Request, salt: str, value: str | None) -> Any:
    if not value:
        return None
    try:
        return _serializer(request, salt).loads(value)
    except BadSignature:
        return None


# ---------------------------------------------------------------- the session cookie


def read_session(request: Request) -> CookieSession | None:
    """The request's session, if its cookie is genuine and has not expired."""
    data = _decode(request, "tocsin.session", request.cookies.get(SESSION_COOKIE))
    if not isinstance(data, dict):
        return None
    user_id, epoch, csrf, issued = data.get("u"), data.get("e"), data.get("c"), data.get("t")
    if not (
        (user_id is None or isinstance(user_id, int))
        and isinstance(epoch, int)
        and isinstance(csrf, str)
        and csrf
        and isinstance(issued, int | float)
    ):
        return None
    now = _context(request).clock.now().timestamp()
    if not issued - 60 <= now < issued + SESSION_LIFETIME.total_seconds():
        return None
    return CookieSession(user_id=user_id, epoch=epoch, csrf=csrf, issued_at=float(issued))


def _new_session(request: Request, user: User | None) -> CookieSession:
    return CookieSession(
        user_id=None if user is None else user.id,
        epoch=0 if user is None else user.session_epoch,
        csrf=secrets.token_urlsafe(32),
        issued_at=_context(request).clock.now().timestamp(),
    )


def _set_session_cookie(request: Request, response: Response, session: CookieSession) -> None:
    payload = {"u": session.user_id, "e": session.epoch, "c": session.csrf, "t": session.issued_at}
    response.set_cookie(
        SESSION_COOKIE,
        _encode(request, "tocsin.session", payload),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def _secure(request: Request) -> bool:
    """Cookies only over HTTPS: this request's scheme, or the public address's when a
    proxy in front terminates TLS (uvicorn trusts its X-Forwarded-Proto only from
    127.0.0.1)."""
    public = _context(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def anonymous_session(request: Request) -> tuple[CookieSession, bool]:
    """The visitor's session (made if there is none); True when it must be sent."""
    current = read_session(request)
    if current is not None:
        return current, False
    return _new_session(request, None), True


def send_session(request: Request, response: Response, session: CookieSession) -> None:
    _set_session_cookie(request, response, session)


def start_session(request: Request, response: Response, user: User) -> None:
    """A fresh session (new CSRF token) for a user who has just signed in."""
    _set_session_cookie(request, response, _new_session(request, user))


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


# ---------------------------------------------------------------- flash messages


def set_flash(request: Request, response: Response, kind: str, message: str) -> None:
    """A one-time message shown by the next page (Post/Redirect/Get)."""
    response.set_cookie(
        FLASH_COOKIE,
        _encode(request, "tocsin.flash", {"k": kind, "m": message[:2000]}),
        max_age=_FLASH_LIFETIME,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def read_flash(request: Request) -> Flash | None:
    data = _decode(request, "tocsin.flash", request.cookies.get(FLASH_COOKIE))
    if not isinstance(data, dict):
        return None
    kind, message = data.get("k"), data.get("m")
    if kind not in ("ok", "error") or not isinstance(message, str):
        return None
    return Flash(kind=kind, message=message)


def drop_flash(request: Request, response: Response) -> None:
    """Forget the message once a page has shown it."""
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="lax")


# ---------------------------------------------------------------- redirects


def safe_next(value: str | None) -> str:
    """``value`` if it is a path on this site, else the dashboard (no open redirect)."""
    if not value or len(value) > 2000:
        return _DEFAULT_NEXT
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return _DEFAULT_NEXT
    if any(ord(c) < 0x20 or c == "\\" for c in value):
        return _DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return _DEFAULT_NEXT
    return value


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


# ---------------------------------------------------------------- dependencies


def user_session(request: Request) -> SignedIn | None:
    """The signed-in user of this request, or None."""
    cookie = read_session(request)
    if cookie is None or cookie.user_id is None:
        return None
    with caller_session(request, _context(request).sessions) as session:
        user = session_user(session=session, user_id=cookie.user_id, epoch=cookie.epoch)
        if user is None:
            return None
        principal = principal_of(user)
        return SignedIn(
            user_id=user.id,
            username=user.username,
            role=principal.role,
            person=principal.person,
            csrf=cookie.csrf,
        )


def signed_in(request: Request) -> SignedIn:
    """The signed-in user; a page without one redirects to the sign-in page."""
    user = user_session(request)
    if user is None:
        raise LoginRequired(_here(request) if request.method == "GET" else _DEFAULT_NEXT)
    return user


def _admitted(user: SignedIn, role: Role) -> SignedIn:
    if not user.role.allows(role):
        raise DashboardForbidden(
            f"This needs the {role} role; you are signed in as {user.username} "
            f"with the {user.role} role."
        )
    return user


def require_role(role: Role) -> Callable[[SignedIn], Awaitable[SignedIn]]:
    # On the event loop: a plain function would cost every page a trip to a thread.
    async def check(user: Annotated[SignedIn, Depends(signed_in)]) -> SignedIn:
        return _admitted(user, role)

    return check


def bearer_or_session(role: Role) -> Callable[[Request], Principal]:
    """For pages that scripts fetch with a token and people open in the dashboard:
    the bearer token if one is sent (as the API checks it), else the session. Without
    either, a browser is sent to sign in and a script gets the API's 401."""

    def check(request: Request) -> Principal:
        wants_page = "text/html" in request.headers.get("accept", "")
        if request.headers.get("authorization") or not (
            wants_page or request.cookies.get(SESSION_COOKIE)
        ):
            principal = get_principal(request, _context(request))
            if not principal.role.allows(role):
                raise DashboardForbidden(
                    f"This needs the {role} role; token {principal.name!r} has {principal.role}."
                )
            return principal
        return _admitted(signed_in(request), role).principal

    return check


Viewer = Annotated[SignedIn, Depends(require_role(Role.viewer))]
Responder = Annotated[SignedIn, Depends(require_role(Role.responder))]
