"""Token use cases. Plain tokens exist only in the return value of `create_token`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tocsin.auth.models import ApiToken
from tocsin.auth.rules import Principal, Role, hash_token, new_token

__all__ = ["TokenExists", "authenticate", "create_token", "list_tokens", "revoke_token"]


class TokenExists(ValueError):
    pass


def create_token(
    *, session: Session, name: str, role: Role, person: str | None, now: datetime
) -> str:
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TokenExists(f"a token named {name!r} already exists")
    token = new_token()
    session.add(
        ApiToken(
            name=name, role=role.value, person=person, token_hash=hash_token(token), created_at=now
        )
    )
    session.flush()
    return token


_TOKEN = select(ApiToken.name, ApiToken.role, ApiToken.person).where(
    ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None)
)


def authenticate(*, session: Session, token: str) -> Principal | None:
    # Columns, not the row's object, and a statement built once: every API request
    # asks this.
    row = session.execute(_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None:
        return None
    return Principal(name=row.name, role=Role(row.role), person=row.person)


def list_tokens(*, session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(*, session: Session, name: str, now: datetime) -> bool:
    row = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    return True
