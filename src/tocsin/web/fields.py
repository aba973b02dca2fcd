"""Field types of request bodies that only the web layer declares."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator
from starlette.convertors import Convertor, register_url_convertor

from tocsin.policy import Duration, parse_duration

__all__ = ["DURATION_TEXT", "RequestDuration"]


def _in_range(value: object) -> object:
    """Refuse a duration longer than :class:`datetime.timedelta` can hold (``"9999999999d"``)
    as a validation error; the policy's own validator would let the overflow escape."""
    if isinstance(value, str):
        try:
            parse_duration(value)
        except OverflowError:
            raise ValueError("is longer than any supported duration") from None
        except ValueError:
            pass  # Duration's own validator words this one
    return value


#: The text of a duration (``30s``, ``15m``, ``1h30m``, ``1d``), as a query parameter
#: states it: :data:`tocsin.policy.durations.DURATION_PATTERN` without its look-ahead,
#: which the regular expressions of JSON Schema validators may not have.
DURATION_TEXT = r"^(\d+d(\d+h)?(\d+m)?(\d+s)?|\d+h(\d+m)?(\d+s)?|\d+m(\d+s)?|\d+s)$"

#: :data:`tocsin.policy.Duration` for request bodies: ``"15m"``, ``"1h30m"``, ``"2d"``.
RequestDuration = Annotated[Duration, BeforeValidator(_in_range)]


class _Reference(Convertor[str]):
    """``{name:ref}`` in a route's path: a reference such as ``PM-12``, without a slash
    or a dot, so that ``/postmortems/PM-12.md`` is only the Markdown route's path and
    never the path of a post-mortem called ``PM-12.md``."""

    regex = "[^/.]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ref", _Reference())
