"""Business calendars: saving them (validated, normalized, versioned) and reading them as
`slas.clocks.BusinessCalendar` objects ready for arithmetic.

Every save writes a CalendarVersion whose `spec` is exactly what `clocks.from_spec` reads, with
the country's public holidays expanded to explicit dates: a clock computed under version 3
is explained with version 3 forever, whatever the calendar becomes later.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import holidays as holiday_library
from django.db import transaction
from django.utils import timezone

from accounts.models import Team, User
from core.errors import RuleBroken
from slas import clocks
from slas.models import WEEKDAYS, BusinessCalendar, CalendarVersion, TeamCalendar

CALENDAR_FIELDS = frozenset(
    {
        "name",
        "timezone",
        "hours",
        "holidays",
        "holiday_country",
        "holiday_subdivision",
        "always_open",
        "is_active",
    }
)
# Public holidays are expanded for this window of years around the save (a clock older than
# two years is history; a target five years out is not a real target). Saving the calendar
# again (any year) moves the window.
HOLIDAY_YEARS_BACK = 2
HOLIDAY_YEARS_AHEAD = 5
NAME_MAX_LENGTH = 100

# Parsed specs by (calendar id, version). A version never changes once written, so an entry
# never goes stale; `save_calendar` (the only writer) primes it, which also keeps a reused id
# (a rolled-back test transaction on SQLite) from reading another calendar's spec.
_PARSED: dict[tuple[int, int], clocks.BusinessCalendar] = {}


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _public_holidays(country: str, subdivision: str, around: date) -> list[str]:
    if not country:
        return []
    years = range(around.year - HOLIDAY_YEARS_BACK, around.year + HOLIDAY_YEARS_AHEAD + 1)
    try:
        found = holiday_library.country_holidays(country, subdiv=subdivision or None, years=years)
    except NotImplementedError:
        if subdivision:
            raise RuleBroken(
                "holiday_subdivision",
                f"{subdivision!r} is not a subdivision of {country} the holiday calendar knows.",
            ) from None
        raise RuleBroken(
            "holiday_country", f"{country!r} is not a country the holiday calendar knows."
        ) from None
    return sorted(day.isoformat() for day in found)


def _clean_text(value: Any, field: str, *, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RuleBroken(field, "Expected text.")
    text: str = value.strip()
    if len(text) > max_length:
        raise RuleBroken(field, f"At most {max_length} characters.")
    return text


def _clean_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise RuleBroken(field, "Expected true or false.")
    return value


def _normalized(parsed: clocks.BusinessCalendar) -> dict[str, list[list[str]]]:
    """The hours as the calendar counts them: each day's intervals sorted and merged."""
    return {
        day: [[_hhmm(start), _hhmm(end)] for start, end in parsed.week[index]]
        for index, day in enumerate(WEEKDAYS)
    }


def calendar_spec_of(calendar: BusinessCalendar, *, around: date | None = None) -> dict[str, Any]:
    """The full spec of the calendar as it stands (public holidays expanded)."""
    public = _public_holidays(
        calendar.holiday_country, calendar.holiday_subdivision, around or timezone.now().date()
    )
    return {
        "timezone": calendar.timezone,
        "hours": calendar.hours,
        "holidays": sorted({*calendar.holidays, *public}),
        "always_open": calendar.always_open,
    }


@transaction.atomic
def save_calendar(
    *, actor: User | None, calendar: BusinessCalendar | None, data: dict[str, Any]
) -> BusinessCalendar:
    """Create (calendar=None) or change a calendar. Keys of `data` not given keep their value.

    Intervals are normalized (sorted, overlapping or touching ones merged); anything malformed
    is refused with the field it is in ("hours.mon.1", "timezone", "holidays.0"). A calendar
    that is never open is refused: every target counted in it would never fall due. Each save
    that changes something bumps the version and writes its snapshot; running clocks keep
    counting in the version they started under (docs/slas.md)."""
    unknown = set(data) - CALENDAR_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise RuleBroken(field, f"{field!r} is not a calendar field.")
    creating = calendar is None
    if calendar is None:
        calendar = BusinessCalendar()
        if "name" not in data:
            raise RuleBroken("name", "A calendar needs a name.")
    else:
        calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    before = _comparable(calendar)

    if "name" in data:
        name = _clean_text(data["name"], "name", max_length=NAME_MAX_LENGTH)
        if not name:
            raise RuleBroken("name", "A calendar needs a name.")
        taken = BusinessCalendar.objects.filter(name__iexact=name)
        if not creating:
            taken = taken.exclude(pk=calendar.pk)
        if taken.exists():
            raise RuleBroken("name", "A calendar with this name already exists.")
        calendar.name = name
    if "timezone" in data:
        calendar.timezone = data["timezone"] if data["timezone"] is not None else ""
    if "hours" in data:
        calendar.hours = data["hours"] if data["hours"] is not None else {}
    if "holidays" in data:
        calendar.holidays = data["holidays"] if data["holidays"] is not None else []
    if "holiday_country" in data:
        calendar.holiday_country = _clean_text(
            data["holiday_country"], "holiday_country", max_length=2
        ).upper()
    if "holiday_subdivision" in data:
        calendar.holiday_subdivision = _clean_text(
            data["holiday_subdivision"], "holiday_subdivision", max_length=10
        ).upper()
    if "always_open" in data:
        calendar.always_open = _clean_bool(data["always_open"], "always_open")
    if "is_active" in data:
        calendar.is_active = _clean_bool(data["is_active"], "is_active")
    if calendar.holiday_subdivision and not calendar.holiday_country:
        raise RuleBroken("holiday_subdivision", "A subdivision needs a country.")

    # The person's own spec first, so an error names their field (holidays.3 is their 4th).
    own = {
        "timezone": calendar.timezone,
        "hours": calendar.hours,
        "holidays": calendar.holidays,
        "always_open": calendar.always_open,
    }
    try:
        parsed = clocks.BusinessCalendar.from_spec(own)
    except clocks.CalendarSpecError as error:
        raise RuleBroken(error.field, error.message) from None
    if not parsed.ever_opens:
        raise RuleBroken("hours", "A calendar must be open some time: add opening hours.")
    calendar.hours = _normalized(parsed)
    calendar.holidays = sorted({day.isoformat() for day in parsed.holidays})

    spec = calendar_spec_of(calendar)
    if not creating and _comparable(calendar) == before:
        return calendar  # nothing changed: no new version
    if not creating:
        calendar.version += 1
    calendar.save()
    CalendarVersion.objects.create(
        calendar=calendar, version=calendar.version, spec=spec, created_by=actor
    )
    _PARSED[(calendar.pk, calendar.version)] = clocks.BusinessCalendar.from_spec(spec)
    return calendar


def _comparable(calendar: BusinessCalendar) -> tuple[Any, ...]:
    return tuple(getattr(calendar, field) for field in sorted(CALENDAR_FIELDS))


def calendar_at(calendar_id: int, version: int) -> clocks.BusinessCalendar:
    """The calendar as it was at `version`, ready for arithmetic (cached; a query on a miss)."""
    key = (calendar_id, version)
    parsed = _PARSED.get(key)
    if parsed is None:
        snapshot = CalendarVersion.objects.filter(calendar_id=calendar_id, version=version).first()
        if snapshot is None:
            # Written before versions existed (or directly, by bulk demo data): today's rules.
            calendar = BusinessCalendar.objects.get(pk=calendar_id)
            parsed = clocks.BusinessCalendar.from_spec(calendar_spec_of(calendar))
        else:
            parsed = clocks.BusinessCalendar.from_spec(snapshot.spec)
        _PARSED[key] = parsed
    return parsed


def calendar_for_spec(calendar: BusinessCalendar) -> clocks.BusinessCalendar:
    """The calendar's current version, ready for arithmetic (cached per id and version)."""
    return calendar_at(calendar.pk, calendar.version)


@transaction.atomic
def set_team_calendar(*, actor: User | None, team: Team, calendar: BusinessCalendar | None) -> None:
    """Give a team its own business hours (None: it follows the policies' calendars). Used by
    the breach forecast to know who is on shift later; the clocks count in the policy's
    calendar."""
    if calendar is None:
        TeamCalendar.objects.filter(team=team).delete()
        return
    if not calendar.is_active:
        raise RuleBroken("calendar", f"{calendar.name} is archived.")
    TeamCalendar.objects.update_or_create(team=team, defaults={"calendar": calendar})


def forget_cached_versions() -> None:
    """Empty the parsed-calendar, policy-snapshot and settings caches. Production never needs it (a
    version never changes and ids are never reused); the test suite calls it before each
    test, where a rolled-back transaction can hand an id to another calendar."""
    from slas.services.policies import _SNAPSHOTS  # policies import nothing from here
    from slas.services.settings_cache import forget_cached_settings

    _PARSED.clear()
    _SNAPSHOTS.clear()
    forget_cached_settings()
