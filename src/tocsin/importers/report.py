"""The import's report: what was imported, what was not and why, what to do next."""

from __future__ import annotations

from tocsin.importers.draft import Draft

__all__ = ["render_report"]


def render_report(draft: Draft, undefined_channels: tuple[str, ...] = ()) -> str:
    lines = [f"Imported from {draft.product}:"]
    lines += [f"  {count} {what}" for what, count in draft.counts().items()]
    if draft.unmapped:
        lines.append(f"Not imported as it is ({len(draft.unmapped)}):")
        lines += [f"  - {u.kind} {u.name}: {u.reason}" for u in draft.unmapped]
    else:
        lines.append("Everything was imported as it is.")
    if draft.next_steps:
        lines.append("Integrations live in Tocsin's database; create them with:")
        lines += [f"  {step}" for step in draft.next_steps]
    if undefined_channels:
        lines.append(
            "The notification rules name channels the policy does not define yet; add them "
            f"under `channels` (see the example policy): {', '.join(undefined_channels)}"
        )
    return "\n".join(lines) + "\n"
