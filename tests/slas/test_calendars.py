"""Saving business calendars: validation naming the field, normalization, public holidays
expanded into the versioned snapshot, and the parsed-calendar cache."""

from datetime import UTC, datetime

import pytest

from core.errors import RuleBroken
from slas import clocks
from slas.models import BusinessCalendar, CalendarVersion, TeamCalendar
from slas.services import calendar_for_spec, save_calendar, set_team_calendar
from tests.slas.sla_helpers import OFFICE_HOURS

pytestmark = pytest.mark.django_db


def create(manager, **data):
    return save_calendar(actor=manager, calendar=None, data={"name": "Paris", **data})


def test_a_calendar_is_saved_normalized_with_its_first_version(manager):
    calendar = create(
        manager,
        timezone="Europe/Paris",
        hours={"mon": [["13:00", "17:30"], ["09:00", "12:00"], ["11:00", "12:30"]]},
        holidays=["2026-12-25", "2026-12-25", "2026-01-01"],
    )

    assert calendar.hours["mon"] == [["09:00", "12:30"], ["13:00", "17:30"]]
    assert calendar.hours["sun"] == []
    assert calendar.holidays == ["2026-01-01", "2026-12-25"]
    version = CalendarVersion.objects.get(calendar=calendar)
    assert (version.version, version.created_by) == (1, manager)
    assert version.spec["timezone"] == "Europe/Paris"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"hours": {"mon": [["09:00", "12:00"], ["13:00", "25:00"]]}}, "hours.mon.1"),
        ({"hours": {"mon": [["12:00", "09:00"]]}}, "hours.mon.0"),
        ({"hours": {"mon": [["24:00", "24:00"]]}}, "hours.mon.0"),
        ({"hours": {"funday": [["09:00", "12:00"]]}}, "hours"),
        ({"hours": {"mon": "9-5"}}, "hours.mon"),
        ({"hours": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-02-30"]}, "holidays.0"),
        ({"hours": {}}, "hours"),  # never open
        ({"hours": {"mon": [["09:00", "17:00"]]}, "holiday_country": "XX"}, "holiday_country"),
        (
            {
                "hours": {"mon": [["09:00", "17:00"]]},
                "holiday_country": "DE",
                "holiday_subdivision": "ZZ",
            },
            "holiday_subdivision",
        ),
        (
            {"hours": {"mon": [["09:00", "17:00"]]}, "holiday_subdivision": "BY"},
            "holiday_subdivision",
        ),
        ({"always_open": "yes"}, "always_open"),
        ({"name": "  "}, "name"),
        ({"always_open": True, "colour": "red"}, "colour"),
    ],
)
def test_bad_calendars_are_refused_naming_the_field(manager, data, field):
    with pytest.raises(RuleBroken) as refused:
        create(manager, **data)

    assert refused.value.field == field
    assert not BusinessCalendar.objects.exists()


def test_a_duplicate_name_is_refused(manager):
    create(manager, always_open=True)

    with pytest.raises(RuleBroken) as refused:
        save_calendar(actor=manager, calendar=None, data={"name": "PARIS", "always_open": True})

    assert refused.value.field == "name"


def test_public_holidays_are_expanded_into_the_snapshot_not_the_own_dates(manager):
    calendar = create(
        manager,
        timezone="Europe/Berlin",
        hours=OFFICE_HOURS,
        holiday_country="de",
        holiday_subdivision="by",
    )

    spec = calendar.versions.get().spec
    assert (calendar.holiday_country, calendar.holiday_subdivision) == ("DE", "BY")
    assert calendar.holidays == []
    assert "2026-01-06" in spec["holidays"]  # Epiphany: Bavaria, not all of Germany
    assert "2026-12-25" in spec["holidays"]
    parsed = calendar_for_spec(calendar)
    assert not clocks.is_open(datetime(2026, 1, 6, 10, 0, tzinfo=UTC), parsed)
    assert clocks.is_open(datetime(2026, 1, 7, 10, 0, tzinfo=UTC), parsed)


def test_each_change_is_a_new_version_and_an_unchanged_save_is_not(manager):
    calendar = create(manager, hours=OFFICE_HOURS)
    parsed_v1 = calendar_for_spec(calendar)

    changed = save_calendar(actor=manager, calendar=calendar, data={"holidays": ["2026-03-02"]})
    again = save_calendar(actor=manager, calendar=changed, data={"holidays": ["2026-03-02"]})

    assert (changed.version, again.version) == (2, 2)
    assert list(calendar.versions.values_list("version", flat=True)) == [1, 2]
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert clocks.is_open(monday, parsed_v1)
    assert not clocks.is_open(monday, calendar_for_spec(changed))
    assert changed.timezone == "UTC"  # keys not given keep their value


def test_an_always_open_calendar_needs_no_hours(manager):
    calendar = create(manager, always_open=True)

    assert calendar_for_spec(calendar).always_open


def test_a_team_calendar_is_set_and_cleared(manager, team):
    calendar = create(manager, always_open=True)

    set_team_calendar(actor=manager, team=team, calendar=calendar)
    assert TeamCalendar.objects.get(team=team).calendar == calendar
    set_team_calendar(actor=manager, team=team, calendar=None)
    assert not TeamCalendar.objects.filter(team=team).exists()


def test_an_archived_calendar_is_no_team_calendar(manager, team):
    calendar = create(manager, always_open=True, is_active=False)

    with pytest.raises(RuleBroken) as refused:
        set_team_calendar(actor=manager, team=team, calendar=calendar)

    assert refused.value.field == "calendar"
