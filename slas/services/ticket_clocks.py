"""The clock engine: brings a ticket's SLA clocks in line with the ticket as it now is, writes
the ledger of every clock it changes, and stores the ticket's SLA summary.

Called inside the transaction of every ticket change (slas.receivers), by the breach sweep and
after a customer's tier or organization changes; idempotent, so calling it twice changes nothing
the second time. A fixed number of queries per call whatever the ticket's history: one read of
the clocks it can still move (with each clock's open ledger segment and the SLA settings stamp),
the customer's facts only when a clock starts under policies with conditions, and one write per
table touched.
The active policies come from the process's cache as of the stamp (slas.services.settings_cache),
calendars and policy versions from theirs; a change that moves no clock (a customer's second
message while the reply clock runs) costs the one read.

The rules (docs/slas.md):
- first_reply starts when the ticket opens; met by the first public agent reply.
- next_reply (sequence 1, 2, ...) starts at a customer message that follows an agent's public
  reply; met by the next public agent reply.
- resolution starts when the ticket opens; met when it is solved; a reopened ticket resumes it
  (the time it spent solved is a pause).
- Pending pauses resolution; on hold pauses it when the clock's policy version says so; resuming
  moves the due instant by the paused business time. Reply targets never pause.
- A priority change re-targets running clocks to the new priority's minutes (of the policy
  version they started under) from their original start; a priority without that target
  cancels it. Any other change (policy, tier, team, tags, calendar) applies to new targets only.
- Solved or closed stops everything: a reply target still waiting is cancelled.
- A target breaches at its due instant (marked here or by the sweep, with a timeline event).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, FilteredRelation, Max, Model, Q, Subquery
from django.utils import timezone

from slas import clocks
from slas.models import ClockSegment, ClockState, SegmentKind, SlaPolicy, TicketClock
from slas.services._common import (
    TicketFacts,
    calendar_of,
    facts_of,
    is_paused,
    pauses_of,
    pick_policy,
    promise_reason,
)
from slas.services.policies import policy_snapshot
from slas.services.settings_cache import cached_active_policies, current_stamp, stamp_subquery
from tickets.models import EventKind, SlaState, SlaTarget, Status, Ticket
from tickets.services import record_sla_summary, record_ticket_event

PENDING_REASON = "Pending on the customer"
ON_HOLD_REASON = "On hold"
SOLVED_REASON = "Solved, then reopened"
FINISHED = (Status.SOLVED, Status.CLOSED)
REPLY_TARGETS = (SlaTarget.FIRST_REPLY, SlaTarget.NEXT_REPLY)


@dataclass
class _Open:
    """A clock's open ledger segment, in memory."""

    kind: str
    starts_at: datetime
    reason: str
    row_id: int | None = None  # the stored open segment it replaces


@dataclass
class _Change:
    transitions: list[tuple[datetime, str | None, str]] = field(default_factory=list)
    virtual_open: _Open | None = None  # a reopened clock's solved stretch


def _clocks_with_open_segments(ticket: Ticket) -> list[TicketClock]:
    """The ticket's clocks the engine can still use, in start order, each with its open ledger
    segment (if any) as `open_segment_*` attributes and the settings stamp as `settings_stamp`:
    one query.

    Those are every clock not stopped plus the latest clock of each target; a finished clock
    that is not its target's latest never moves again, so a long ticket (a next-reply clock per
    customer turn) costs the same as a short one. What the engine reads of `self.clocks`:
    - open_clocks() and everything run on it (retarget, stop, breach, pause, the summary): only
      clocks with stopped_at null, all here;
    - _reopen: the last resolution clock; _start_new: which targets exist, the last next-reply
      clock and the highest next-reply sequence: each target's latest clock, here;
    - _write / _write_ledger: the clocks changed, which are among the above;
    - the stamp: the same on every row, and a ticket with any clock gets at least one row.
    "Latest by id" is "last in (started_at, id) order" for each target: first_reply and
    resolution are started once per ticket (sequence 1; one_clock_per_target), and a
    next-reply clock starts only after the last one stopped and strictly later than it started
    (_start_new), with sequence + 1, in a later insert under the ticket's row lock; started_at
    never changes afterwards. So per target id, started_at and sequence all rise together."""
    open_segment = FilteredRelation("segments", condition=Q(segments__ends_at__isnull=True))
    latest_of_each_target = (
        TicketClock.objects.filter(ticket=ticket)
        .order_by()  # no Meta ordering in the GROUP BY
        .values("target")
        .annotate(latest=Max("id"))
        .values("latest")
    )
    rows = (
        TicketClock.objects.filter(ticket=ticket)
        .filter(Q(stopped_at__isnull=True) | Q(pk__in=Subquery(latest_of_each_target)))
        .annotate(
            open_segment=open_segment,
            open_segment_id=F("open_segment__id"),
            open_segment_kind=F("open_segment__kind"),
            open_segment_starts_at=F("open_segment__starts_at"),
            open_segment_reason=F("open_segment__reason"),
            settings_stamp=stamp_subquery(),
        )
        .order_by("started_at", "id", "open_segment__starts_at", "open_segment__id")
    )
    # A clock has at most one open segment; were there two, the latest is the one a ledger
    # write replaces (as the query it replaces did), so later rows win.
    return list({clock.pk: clock for clock in rows}.values())


class _Engine:
    def __init__(self, ticket: Ticket, now: datetime) -> None:
        self.ticket = ticket
        self.now = now
        self.clocks = _clocks_with_open_segments(ticket)
        self._stamp: uuid.UUID | bool | None = (
            self.clocks[0].settings_stamp if self.clocks else False  # type: ignore[attr-defined]
        )
        self.changes: dict[int, _Change] = {}  # by id(clock): new clocks have no pk yet
        self.new: list[TicketClock] = []
        self._facts: TicketFacts | None = None
        self._policy: SlaPolicy | bool | None = False  # False: not looked up yet
        self._breaches: list[TicketClock] = []

    # --- lookups ------------------------------------------------------------------------------

    @property
    def facts(self) -> TicketFacts:
        if self._facts is None:
            self._facts = facts_of(self.ticket)
        return self._facts

    @property
    def stamp(self) -> uuid.UUID | None:
        """The SLA settings stamp, read with the clocks (or on its own for a ticket that has
        none yet)."""
        if self._stamp is False:
            self._stamp = current_stamp()
        return self._stamp  # type: ignore[return-value]

    @property
    def policy(self) -> SlaPolicy | None:
        if self._policy is False:
            policies = cached_active_policies(self.stamp)
            if any(policy.is_active and not policy.is_default for policy in policies):
                self._policy = pick_policy(policies, self.facts)
            else:
                # Only defaults: pick_policy would take the first without reading any fact.
                self._policy = next(
                    (policy for policy in policies if policy.is_active and policy.is_default),
                    None,
                )
        return self._policy  # type: ignore[return-value]

    def open_clocks(self) -> list[TicketClock]:
        return [clock for clock in self.clocks if clock.stopped_at is None]

    def _change(self, clock: TicketClock) -> _Change:
        return self.changes.setdefault(id(clock), _Change())

    def _transition(self, clock: TicketClock, at: datetime, kind: str | None, reason: str) -> None:
        self._change(clock).transitions.append((at, kind, reason))

    # --- arithmetic ---------------------------------------------------------------------------

    def _due(self, clock: TicketClock) -> datetime:
        return clocks.add_business_minutes(
            clock.started_at, clock.target_minutes, calendar_of(clock), pauses_of(clock, self.now)
        )

    def _measure(self, clock: TicketClock, end: datetime) -> None:
        calendar = calendar_of(clock)
        used = clocks.business_minutes_between(
            clock.started_at, end, calendar, pauses_of(clock, end)
        )
        open_minutes = clocks.business_minutes_between(clock.started_at, end, calendar)
        clock.business_minutes = used
        clock.paused_business_minutes = max(open_minutes - used, 0)

    # --- what happens to a clock --------------------------------------------------------------

    def start(self, target: str, at: datetime, sequence: int = 1) -> None:
        policy = self.policy
        if policy is None:
            return
        minutes = next(
            (
                getattr(row, f"{target}_minutes")
                for row in policy.targets.all()
                if row.priority == self.ticket.priority
            ),
            None,
        )
        if not minutes:
            return
        clock = TicketClock(
            ticket=self.ticket,
            target=target,
            sequence=sequence,
            policy=policy,
            policy_version=policy.version,
            calendar_id=policy.calendar_id,
            calendar_version=policy.calendar.version,
            priority=self.ticket.priority,
            target_minutes=minutes,
            started_at=at,
            due_at=at,
            state=ClockState.RUNNING,
            pauses=[],
        )
        clock.due_at = self._due(clock)
        self.clocks.append(clock)
        self.new.append(clock)
        self._transition(clock, at, SegmentKind.RUNNING, "")

    def breach(self, clock: TicketClock) -> None:
        clock.state = ClockState.BREACHED
        clock.breached_at = clock.due_at
        self._change(clock)
        self._breaches.append(clock)

    def stop(self, clock: TicketClock, at: datetime, outcome: str) -> None:
        if is_paused(clock):
            start, _end, reason = clock.pauses[-1]
            clock.pauses = [*clock.pauses[:-1], [start, at.isoformat(), reason]]
        if clock.state != ClockState.BREACHED and at >= clock.due_at:
            self.breach(clock)
        elif clock.state != ClockState.BREACHED:
            clock.state = outcome
        clock.stopped_at = at
        self._measure(clock, at)
        self._transition(clock, at, None, "")

    def pause(self, clock: TicketClock, reason: str) -> None:
        clock.pauses = [*clock.pauses, [self.now.isoformat(), None, reason]]
        if clock.state == ClockState.RUNNING:
            clock.state = ClockState.PAUSED
        self._measure(clock, self.now)
        clock.due_at = self._due(clock)
        self._transition(clock, self.now, SegmentKind.PAUSED, reason)

    def resume(self, clock: TicketClock) -> None:
        start, _end, reason = clock.pauses[-1]
        clock.pauses = [*clock.pauses[:-1], [start, self.now.isoformat(), reason]]
        if clock.state == ClockState.PAUSED:
            clock.state = ClockState.RUNNING
        self._measure(clock, self.now)
        clock.due_at = self._due(clock)
        self._transition(clock, self.now, SegmentKind.RUNNING, "")

    def reopen(self, clock: TicketClock) -> None:
        """A solved ticket is open again: its resolution clock resumes, the solved stretch
        counting as a pause."""
        stopped_at = clock.stopped_at or self.now
        clock.pauses = [
            *clock.pauses,
            [stopped_at.isoformat(), self.now.isoformat(), SOLVED_REASON],
        ]
        clock.stopped_at = None
        clock.state = ClockState.BREACHED if clock.breached_at else ClockState.RUNNING
        self._measure(clock, self.now)
        clock.due_at = self._due(clock)
        change = self._change(clock)
        change.virtual_open = _Open(SegmentKind.PAUSED, stopped_at, SOLVED_REASON)
        self._transition(clock, self.now, SegmentKind.RUNNING, "Reopened")

    def retarget(self, clock: TicketClock) -> None:
        snapshot = policy_snapshot(clock.policy_id, clock.policy_version)
        row = snapshot["targets"].get(self.ticket.priority) or {}
        minutes = row.get(f"{clock.target}_minutes")
        old_priority, old_minutes = clock.priority, clock.target_minutes
        clock.priority = self.ticket.priority
        if not minutes:
            self.stop(clock, self.now, ClockState.CANCELLED)
            return
        clock.target_minutes = minutes
        clock.due_at = self._due(clock)
        self._measure(clock, self.now)
        kind = SegmentKind.PAUSED if is_paused(clock) else SegmentKind.RUNNING
        reason = (
            f"Priority {old_priority} \u2192 {clock.priority}: "
            f"target {old_minutes} \u2192 {minutes} min"
        )
        self._transition(clock, self.now, kind, reason)

    # --- the rules ----------------------------------------------------------------------------

    def run(self) -> None:
        ticket, now = self.ticket, self.now
        if ticket.status in FINISHED:
            self._finish()
        else:
            self._reopen()
            for clock in self.open_clocks():
                if clock.priority != ticket.priority:
                    self.retarget(clock)
            self._stop_replied()
            self._breach_overdue()
            self._start_new()
            self._pause_or_resume()
            self._breach_overdue()
        self._write()
        for clock in self._breaches:
            record_ticket_event(
                ticket=ticket,
                kind=EventKind.SLA_BREACHED,
                data={
                    "clock": clock.pk,
                    "target": clock.target,
                    "sequence": clock.sequence,
                    "due_at": clock.due_at.isoformat(),
                    "policy": clock.policy_id,
                    "policy_version": clock.policy_version,
                },
            )
        self._summarize(now)

    def _finish(self) -> None:
        ticket = self.ticket
        for clock in self.open_clocks():
            if clock.target == SlaTarget.RESOLUTION:
                self.stop(clock, ticket.solved_at or self.now, ClockState.MET)
            elif clock.target == SlaTarget.FIRST_REPLY and ticket.first_agent_reply_at:
                self.stop(clock, ticket.first_agent_reply_at, ClockState.MET)
            elif (
                clock.target == SlaTarget.NEXT_REPLY
                and ticket.last_agent_reply_at
                and ticket.last_agent_reply_at >= clock.started_at
            ):
                self.stop(clock, ticket.last_agent_reply_at, ClockState.MET)
            else:
                self.stop(clock, self.now, ClockState.CANCELLED)

    def _reopen(self) -> None:
        resolution = [clock for clock in self.clocks if clock.target == SlaTarget.RESOLUTION]
        if resolution:
            latest = resolution[-1]
            if latest.stopped_at is not None and latest.state != ClockState.CANCELLED:
                self.reopen(latest)

    def _stop_replied(self) -> None:
        ticket = self.ticket
        for clock in self.open_clocks():
            if clock.target == SlaTarget.FIRST_REPLY and ticket.first_agent_reply_at:
                self.stop(clock, max(ticket.first_agent_reply_at, clock.started_at), ClockState.MET)
            elif (
                clock.target == SlaTarget.NEXT_REPLY
                and ticket.last_agent_reply_at
                and ticket.last_agent_reply_at >= clock.started_at
            ):
                self.stop(clock, ticket.last_agent_reply_at, ClockState.MET)

    def _breach_overdue(self) -> None:
        for clock in self.open_clocks():
            if clock.state == ClockState.RUNNING and clock.due_at <= self.now:
                self.breach(clock)

    def _pause_reason(self, clock: TicketClock) -> str:
        status = self.ticket.status
        if status == Status.PENDING:
            return PENDING_REASON
        if status == Status.ON_HOLD:
            snapshot = policy_snapshot(clock.policy_id, clock.policy_version)
            if snapshot.get("pause_on_hold"):
                return ON_HOLD_REASON
        return ""

    def _pause_or_resume(self) -> None:
        for clock in self.open_clocks():
            if clock.target != SlaTarget.RESOLUTION:
                continue  # reply targets never pause
            reason = self._pause_reason(clock)
            paused = is_paused(clock)
            if paused and clock.pauses[-1][2] != reason:
                self.resume(clock)
                paused = False
            if reason and not paused:
                self.pause(clock, reason)
            elif paused and id(clock) not in self.changes:
                # Still paused: keep "the due instant if the pause ended now" current.
                due = self._due(clock)
                if due != clock.due_at:
                    clock.due_at = due
                    self._change(clock)

    def _start_new(self) -> None:
        ticket = self.ticket
        targets = {clock.target for clock in self.clocks}
        if SlaTarget.FIRST_REPLY not in targets and ticket.first_agent_reply_at is None:
            self.start(SlaTarget.FIRST_REPLY, self.now)
        if SlaTarget.RESOLUTION not in targets:
            self.start(SlaTarget.RESOLUTION, self.now)
        waiting_since = ticket.last_customer_message_at
        if (
            waiting_since is not None
            and ticket.last_agent_reply_at is not None
            and waiting_since > ticket.last_agent_reply_at
        ):
            replies = [clock for clock in self.clocks if clock.target == SlaTarget.NEXT_REPLY]
            if not replies or (
                replies[-1].stopped_at is not None and replies[-1].started_at < waiting_since
            ):
                sequence = max((clock.sequence for clock in replies), default=0) + 1
                self.start(SlaTarget.NEXT_REPLY, waiting_since, sequence)

    # --- writing ------------------------------------------------------------------------------

    def _write(self) -> None:
        if not self.changes:
            return
        if self.new:
            TicketClock.objects.bulk_create(self.new)
        new_ids = {id(clock) for clock in self.new}
        changed = [
            clock for clock in self.clocks if id(clock) in self.changes and id(clock) not in new_ids
        ]
        for clock in changed:
            clock.updated_at = self.now
        if changed:
            _update_rows(
                changed,
                [
                    "priority",
                    "target_minutes",
                    "due_at",
                    "state",
                    "stopped_at",
                    "breached_at",
                    "business_minutes",
                    "paused_business_minutes",
                    "pauses",
                    "updated_at",
                ],
            )
        self._write_ledger()

    def _write_ledger(self) -> None:
        with_transitions = [
            clock for clock in self.clocks if self.changes.get(id(clock), _Change()).transitions
        ]
        if not with_transitions:
            return
        rows: list[ClockSegment] = []
        replaced: list[int] = []
        closed_in_place: list[ClockSegment] = []
        for clock in with_transitions:
            change = self.changes[id(clock)]
            current = change.virtual_open
            segment = _stored_open_segment(clock)
            if current is None and segment is not None:
                current = _Open(segment.kind, segment.starts_at, segment.reason, segment.pk)
            for at, kind, reason in change.transitions:
                if current is not None:
                    pieces = self._closed_segments(clock, current, at)
                    if current.row_id is not None and _same_stretch(pieces, current):
                        # The stored open segment ends as one piece: set its end where it is
                        # (the row a delete and insert would write, bar its id).
                        stored = pieces[0]
                        stored.pk = current.row_id
                        closed_in_place.append(stored)
                    else:
                        rows.extend(pieces)
                        if current.row_id is not None:
                            replaced.append(current.row_id)
                current = _Open(kind, at, reason) if kind else None
            if current is not None and current.row_id is None:
                rows.append(
                    self._segment(clock, current.kind, current.starts_at, None, 0, current.reason)
                )
            if segment is not None and change.virtual_open is not None:
                replaced.append(segment.pk)  # a stopped clock's leftover, replaced as before
        if replaced:
            ClockSegment.objects.filter(pk__in=replaced).delete()
        if closed_in_place:
            _update_rows(closed_in_place, ["ends_at", "business_minutes"])
        ClockSegment.objects.bulk_create(rows)

    def _segment(
        self,
        clock: TicketClock,
        kind: str,
        starts_at: datetime,
        ends_at: datetime | None,
        minutes: int,
        reason: str,
    ) -> ClockSegment:
        return ClockSegment(
            clock=clock,
            kind=kind,
            starts_at=starts_at,
            ends_at=ends_at,
            business_minutes=minutes,
            reason=reason[:200],
            policy_version=clock.policy_version,
            calendar_version=clock.calendar_version,
        )

    def _closed_segments(
        self, clock: TicketClock, current: _Open, end: datetime
    ) -> list[ClockSegment]:
        """[current.starts_at, end) as the ledger explains it: counting or paused (with why),
        and the closed hours and holidays inside."""
        pauses = [(current.starts_at, end)] if current.kind == SegmentKind.PAUSED else []
        pieces = clocks.segments_between(current.starts_at, end, calendar_of(clock), pauses)
        return [
            self._segment(
                clock,
                piece.kind,
                piece.start,
                piece.end,
                piece.business_minutes,
                current.reason if piece.kind == current.kind else "",
            )
            for piece in pieces
        ]

    # --- the ticket's summary -----------------------------------------------------------------

    def _summarize(self, now: datetime) -> None:
        live = [
            clock
            for clock in self.open_clocks()
            if clock.state in (ClockState.RUNNING, ClockState.PAUSED, ClockState.BREACHED)
        ]
        counting = [clock for clock in live if not is_paused(clock)]
        soonest = min(counting, key=lambda clock: clock.due_at, default=None)
        if any(clock.state == ClockState.BREACHED for clock in live) or any(
            clock.due_at <= now for clock in counting
        ):
            state = SlaState.BREACHED
        elif counting:
            state = SlaState.RUNNING
        elif live:
            state = SlaState.PAUSED
        else:
            state = SlaState.NONE
        reply = min(
            (clock for clock in counting if clock.target in REPLY_TARGETS),
            key=lambda clock: clock.due_at,
            default=None,
        )
        reason = ""
        if reply is not None:
            snapshot = policy_snapshot(reply.policy_id, reply.policy_version)
            conditions = snapshot.get("conditions") or {}
            reason = promise_reason(
                policy_name=snapshot.get("name", ""),
                conditions=conditions,
                # Only a tier's policy names the tier: no customer query for the others.
                tier_name=self.facts.tier_name if conditions.get("tiers") else "",
            )
        record_sla_summary(
            ticket=self.ticket,
            due_at=soonest.due_at if soonest else None,
            target=soonest.target if soonest else "",
            state=state,
            reply_due_at=reply.due_at if reply else None,
            reply_promise=reason,
        )


def _update_rows(rows: Sequence[Model], fields: list[str]) -> None:
    """Store `fields` of rows already saved: one UPDATE either way. Most changes move one clock
    (one segment), and a plain UPDATE of it spares bulk_update's CASE WHEN build (milliseconds
    of Python per call); like bulk_update, it writes the values as they are (no auto_now)."""
    if len(rows) == 1:
        row = rows[0]
        type(row)._default_manager.filter(pk=row.pk).update(
            **{name: getattr(row, name) for name in fields}
        )
    else:
        type(rows[0])._default_manager.bulk_update(rows, fields)


def _stored_open_segment(clock: TicketClock) -> ClockSegment | None:
    """The open segment read with the clock (_clocks_with_open_segments); None for a new
    clock."""
    row_id = getattr(clock, "open_segment_id", None)
    if row_id is None:
        return None
    return ClockSegment(
        pk=row_id,
        clock=clock,
        kind=clock.open_segment_kind,  # type: ignore[attr-defined]
        starts_at=clock.open_segment_starts_at,  # type: ignore[attr-defined]
        reason=clock.open_segment_reason,  # type: ignore[attr-defined]
    )


def _same_stretch(pieces: list[ClockSegment], current: _Open) -> bool:
    """True when closing the open segment yields exactly that segment with an end: one piece
    of its kind, from its start, with its reason."""
    if len(pieces) != 1:
        return False
    piece = pieces[0]
    return (piece.kind, piece.starts_at, piece.reason) == (
        current.kind,
        current.starts_at,
        current.reason[:200],
    )


def recompute_ticket_clocks(*, ticket: Ticket, now: datetime | None = None) -> uuid.UUID | None:
    """Bring the ticket's clocks, ledger and SLA summary in line with the ticket. The caller
    holds the ticket's row lock inside its transaction (every ticket service does). Returns
    the SLA settings stamp it read, for the escalation rules that run next in the same change
    (slas.receivers)."""
    engine = _Engine(ticket, now or timezone.now())
    engine.run()
    return engine._stamp if engine._stamp is not False else None  # type: ignore[return-value]


def recompute_customer_clocks(*, customer_id: int, now: datetime | None = None) -> int:
    """After a customer's tier or organization changed: recompute each of their unfinished
    tickets (each locked, oldest first). New targets follow the new policy; running ones keep
    theirs. Returns how many tickets were looked at."""
    now = now or timezone.now()
    ids = list(
        Ticket.objects.filter(customer_id=customer_id)
        .exclude(status__in=FINISHED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for ticket in Ticket.objects.select_for_update().filter(pk__in=ids).order_by("id"):
        recompute_ticket_clocks(ticket=ticket, now=now)
    return len(ids)
