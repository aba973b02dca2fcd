"""The Atom feed (RFC 4287) of public incidents and scheduled maintenance.

Built with ElementTree, which escapes every text and attribute: an incident named
``<script>`` is ``&lt;script&gt;`` in the XML and stays text in a feed reader. Entry
ids are ``urn:uuid:`` names derived from the page and the public id, so they never
change and reveal nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from html import escape
from xml.etree import ElementTree as ET

from tocsin.statuspage.public import PageView, PublicIncident, PublicMaintenance, PublicUpdate
from tocsin.statuspage.rules import format_time

__all__ = ["ATOM_NS", "atom_feed"]

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml"


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _urn(view: PageView, kind: str, code: str) -> str:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, view.url)
    return uuid.uuid5(namespace, f"{kind}/{code}").urn


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _html(view: PageView, updates: tuple[PublicUpdate, ...]) -> str:
    """The updates as an HTML fragment (Atom ``type="html"``), every value escaped."""
    parts = []
    for update in updates:
        when = escape(format_time(update.display_at, view.tz))
        status = escape(update.status.replace("_", " ").capitalize())
        body = escape(update.body)
        parts.append(f"<p><small>{when}</small><br><strong>{status}</strong> - {body}</p>")
    return "".join(parts)


def _entry(
    feed: ET.Element,
    view: PageView,
    *,
    urn: str,
    title: str,
    link: str,
    published: datetime,
    updated: datetime,
    updates: tuple[PublicUpdate, ...],
) -> None:
    entry = _sub(feed, "entry")
    _sub(entry, "id", urn)
    _sub(entry, "title", title, type="text")
    _sub(entry, "published", _time(published))
    _sub(entry, "updated", _time(updated))
    _sub(entry, "link", rel="alternate", type="text/html", href=link)
    _sub(entry, "content", _html(view, updates), type="html")


def atom_feed(view: PageView) -> bytes:
    """The feed document, UTF-8 with an XML declaration."""
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "en"})
    _sub(feed, "id", _urn(view, "page", view.id))
    _sub(feed, "title", f"{view.name} - Incident History", type="text")
    _sub(feed, "updated", _time(view.updated_at))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=f"{view.url}/feed.atom")
    _sub(feed, "link", rel="alternate", type="text/html", href=view.url)
    author = _sub(feed, "author")
    _sub(author, "name", view.name)
    items: list[tuple[datetime, PublicIncident | PublicMaintenance]] = [
        (i.updated_at, i) for i in view.recent
    ]
    items += [(m.updated_at, m) for m in view.recent_maintenances]
    for _, item in sorted(items, key=lambda pair: pair[0], reverse=True):
        if isinstance(item, PublicIncident):
            _entry(
                feed,
                view,
                urn=_urn(view, "incident", item.id),
                title=item.name,
                link=f"{view.url}/incidents/{item.id}",
                published=item.published_at,
                updated=item.updated_at,
                updates=item.updates,
            )
        else:
            _entry(
                feed,
                view,
                urn=_urn(view, "maintenance", item.id),
                title=f"Scheduled maintenance: {item.name}",
                link=f"{view.url}/maintenances/{item.id}",
                published=item.created_at,
                updated=item.updated_at,
                updates=item.updates,
            )
    document = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    assert isinstance(document, bytes)
    return document
