"""Instants and targets the SLA tests share (their fixtures are in conftest.py)."""

from datetime import UTC, datetime

# A Monday morning, 09:00 UTC.
MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

OFFICE_HOURS = {
    day: [["09:00", "12:00"], ["13:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}


def targets(first: int | None = 60, nxt: int | None = 120, resolution: int | None = 480):
    row = {
        "first_reply_minutes": first,
        "next_reply_minutes": nxt,
        "resolution_minutes": resolution,
    }
    return {priority: dict(row) for priority in ("low", "normal", "high", "urgent")}
