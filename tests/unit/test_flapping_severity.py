"""The flapping rule's severity decision: flapping never lowers an incident's severity
(ranks: 1 is the worst)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tocsin.alerts.rules import flapping_severity

SEV1, SEV2, SEV3, SEV4 = 1, 2, 3, 4


def test_a_sev1_outage_that_flaps_stays_sev1() -> None:
    assert flapping_severity(SEV1, alert=SEV1) == SEV1


def test_the_incident_is_never_less_severe_than_its_flapping_alert() -> None:
    assert flapping_severity(SEV4, alert=SEV1) == SEV1


def test_the_incident_is_never_less_severe_than_its_worst_firing_alert() -> None:
    assert flapping_severity(SEV4, alert=SEV3, firing=[SEV3, SEV2]) == SEV2


def test_a_severity_a_person_set_is_kept_and_restored() -> None:
    assert flapping_severity(SEV1, alert=SEV3, person=SEV1) == SEV1
    assert flapping_severity(SEV4, alert=SEV3, person=SEV2) == SEV2


def test_a_worse_severity_than_every_alert_is_not_lowered() -> None:
    assert flapping_severity(SEV1, alert=SEV4, firing=[SEV3]) == SEV1


ranks = st.integers(min_value=1, max_value=6)


@given(ranks, ranks, st.lists(ranks, max_size=4), st.none() | ranks)
def test_never_lowered_below_any_floor(
    current: int, alert: int, firing: list[int], person: int | None
) -> None:
    wanted = flapping_severity(current, alert=alert, firing=firing, person=person)
    assert wanted <= current and wanted <= alert
    assert all(wanted <= rank for rank in firing)
    assert person is None or wanted <= person
    assert wanted in {current, alert, *firing, *([] if person is None else [person])}
