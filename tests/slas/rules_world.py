"""What the escalation rule tests share: SLA clocks written directly (the clock service is the
sla-core helper's; these tests pin the rules, not the clocks), and rules saved through the
service."""

from datetime import datetime, timedelta

from slas.models import (
    BusinessCalendar,
    CalendarVersion,
    ClockState,
    SlaPolicy,
    TicketClock,
)
from slas.services import save_rule

ALWAYS_OPEN = {"timezone": "UTC", "hours": {}, "holidays": [], "always_open": True}
OFFICE = {
    "timezone": "Europe/Paris",
    "hours": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [],
    "always_open": False,
}


def calendar(name: str = "24/7", spec: dict | None = None) -> BusinessCalendar:
    spec = spec or ALWAYS_OPEN
    row, _ = BusinessCalendar.objects.get_or_create(
        name=name,
        defaults={
            "timezone": spec["timezone"],
            "hours": spec["hours"],
            "holidays": spec["holidays"],
            "always_open": spec["always_open"],
        },
    )
    CalendarVersion.objects.get_or_create(
        calendar=row, version=row.version, defaults={"spec": spec}
    )
    return row


def policy(cal: BusinessCalendar | None = None) -> SlaPolicy:
    cal = cal or calendar()
    row, _ = SlaPolicy.objects.get_or_create(name=f"Policy {cal.name}", defaults={"calendar": cal})
    return row


def clock(
    ticket,
    *,
    target: str = "first_reply",
    minutes: int = 60,
    started_at: datetime,
    cal: BusinessCalendar | None = None,
    due_at: datetime | None = None,
    state: str = ClockState.RUNNING,
    sequence: int = 1,
) -> TicketClock:
    cal = cal or calendar()
    return TicketClock.objects.create(
        ticket=ticket,
        target=target,
        sequence=sequence,
        policy=policy(cal),
        policy_version=1,
        calendar=cal,
        calendar_version=cal.version,
        priority=ticket.priority,
        target_minutes=minutes,
        started_at=started_at,
        due_at=due_at or started_at + timedelta(minutes=minutes),
        state=state,
    )


def rule(actor, **data):
    data.setdefault("name", f"Rule {data.get('position', 0)} {len(str(data))}")
    data.setdefault("actions", [{"type": "add_note", "body": "Look at this."}])
    return save_rule(actor=actor, rule=None, data=data)
