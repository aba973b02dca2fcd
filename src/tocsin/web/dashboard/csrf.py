"""CSRF protection of the dashboard's forms (synchronizer token).

Every form carries the session's token in a hidden ``csrf_token`` field; every POST is
refused with a 403 page, before anything is read or changed, unless the field equals
the token in the request's signed session cookie. A forged cross-site form cannot know
the token, and SameSite=Lax keeps the cookie off cross-site POSTs besides.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request

from tocsin.web.dashboard.session import SignedIn, read_session, signed_in

__all__ = ["CSRF_FIELD", "CsrfRejected", "FormData", "SignedForm", "checked_form", "read_form"]

CSRF_FIELD = "csrf_token"
_MAX_FIELDS = 50


class CsrfRejected(Exception):
    """A POST without the session's CSRF token (answered with a 403 page)."""


FormData = dict[str, list[str]]


async def read_form(request: Request) -> FormData:
    """The fields of an ``application/x-www-form-urlencoded`` body (all values)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return {}
    body = await request.body()
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return {}


def check_token(request: Request, form: FormData) -> None:
    session = read_session(request)
    sent = (form.get(CSRF_FIELD) or [""])[0]
    if session is None or not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfRejected("the form's security token is missing or out of date")


async def checked_form(
    request: Request, _user: Annotated[SignedIn, Depends(signed_in)]
) -> FormData:
    """The form of a signed-in user's POST, once its CSRF token has been checked."""
    form = await read_form(request)
    check_token(request, form)
    return form


SignedForm = Annotated[FormData, Depends(checked_form)]
