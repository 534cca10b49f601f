"""SLA policies and the business calendars they count in, the clocks on each ticket with the
ledger that explains them, and escalation rules with the record of every firing.

Written only by `slas.services`; nothing here has side effects. Every stored instant is UTC;
a calendar's zone decides only which minutes are open (slas.clocks).
"""

from django.conf import settings
from django.db import models

from tickets.models import Priority, SlaTarget

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessCalendar(models.Model):
    """When the support desk is open. `hours`, `holidays` and `always_open` are the JSON shape
    `slas.clocks.BusinessCalendar.from_spec` reads (docs/slas.md); public holidays of
    `holiday_country` (and `holiday_subdivision`) come from the `holidays` library and are
    expanded to dates by the service that saves the calendar."""

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    # {"mon": [["09:00", "12:00"], ["13:00", "17:30"]], ..., "sun": []}
    hours = models.JSONField(default=dict, blank=True)
    # Explicit closed local dates, "YYYY-MM-DD".
    holidays = models.JSONField(default=list, blank=True)
    holiday_country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1, e.g. FR")
    holiday_subdivision = models.CharField(max_length=10, blank=True, help_text="e.g. BY for DE")
    always_open = models.BooleanField(default=False, help_text="24/7: ignores hours and holidays.")
    # Bumped on every change; the clocks and the ledger record the version they used.
    version = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CalendarVersion(models.Model):
    """What a calendar was at each version (append-only): the ledger explains old clocks with
    the calendar they were computed under, not today's."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField()
    # The full spec as clocks.from_spec reads it, public holidays already expanded.
    spec = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["calendar", "version"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "version"], name="calendar_version_once")
        ]

    def __str__(self) -> str:
        return f"{self.calendar_id} v{self.version}"


class TeamCalendar(models.Model):
    """A team's own business hours (the forecast's "who is on shift later"; a policy may say
    to count in the ticket team's calendar)."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="+")
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"{self.team_id}: {self.calendar_id}"


class SlaPolicy(models.Model):
    """Targets per priority, for the tickets its conditions match. Policies are tried in
    `position` order and the first match wins; the default policy (exactly one, if any)
    matches what no other does."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    is_default = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    # Every key optional; an empty or missing list matches anything:
    # {"tiers": ["gold"], "organizations": [3], "teams": [1], "channels": ["chat"],
    #  "types": ["incident"], "tags": ["vip"]}
    conditions = models.JSONField(default=dict, blank=True)
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.PROTECT, related_name="policies"
    )
    # Pending (waiting on the customer) always pauses the resolution clock; on hold only when
    # the policy says so.
    pause_on_hold = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_sla_policy",
            )
        ]

    def __str__(self) -> str:
        return self.name


class PolicyTarget(models.Model):
    """One priority's targets, in business minutes; None: no such target at this priority."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(max_length=16, choices=Priority.choices)
    first_reply_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_reply_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["policy", "priority"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "priority"], name="one_target_per_priority")
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} {self.priority}"


class PolicyVersion(models.Model):
    """What a policy was at each version (append-only), for the ledger."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    # Name, conditions, calendar id and version, pause_on_hold, targets per priority.
    snapshot = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["policy", "version"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "version"], name="policy_version_once")
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} v{self.version}"


class ClockState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    MET = "met", "Met"  # stopped at or before its due instant
    BREACHED = "breached", "Breached"  # due instant passed (still running, or stopped late)
    CANCELLED = "cancelled", "Cancelled"  # stopped without applying (e.g. solved before a reply)


class TicketClock(models.Model):
    """One target on one ticket: first reply, each next reply (`sequence` 1, 2, ...), or
    resolution. The policy and calendar versions it counts under are fixed when it starts: a
    policy change applies to new targets and never rewrites a running or finished one."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    target = models.CharField(max_length=16, choices=SlaTarget.choices)
    sequence = models.PositiveIntegerField(default=1)
    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, related_name="+")
    policy_version = models.PositiveIntegerField()
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")
    calendar_version = models.PositiveIntegerField()
    priority = models.CharField(max_length=16, choices=Priority.choices)
    target_minutes = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    # The instant the target is due, given the pauses so far (recomputed on resume). While
    # paused it is the due instant if the pause ended now.
    due_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=ClockState.choices)
    stopped_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)  # = due_at once it has passed
    # Business minutes used so far (final once stopped): the dashboard's reply and resolution
    # times, aggregated in SQL.
    business_minutes = models.PositiveIntegerField(default=0)
    paused_business_minutes = models.PositiveIntegerField(default=0)
    # The real-time pauses so far, oldest first: [[from ISO, to ISO or null, reason], ...]; a
    # null end is the pause still going. Due instants are computed with them (slas.clocks).
    pauses = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ticket", "started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "target", "sequence"], name="one_clock_per_target"
            )
        ]
        indexes = [
            # The sweeps: running clocks by due instant (breaches, "due in the next hour").
            models.Index(
                fields=["due_at"],
                name="clock_running_due",
                condition=models.Q(state__in=["running", "breached"], stopped_at__isnull=True),
            ),
            # The breach sweep (sla-core): clocks still to be marked, by due instant. Narrower
            # than clock_running_due, which also holds breached clocks still running (a
            # backlog of long-breached tickets would otherwise be read on every sweep).
            models.Index(
                fields=["due_at"],
                name="clock_unbreached_due",
                condition=models.Q(state="running", stopped_at__isnull=True),
            ),
            # The dashboard: targets that finished in a period.
            models.Index(fields=["stopped_at", "target"], name="clock_stopped"),
            models.Index(fields=["ticket", "target", "-sequence"], name="clock_ticket_target"),
        ]

    def __str__(self) -> str:
        return f"{self.target} #{self.sequence} on {self.ticket_id}"


class SegmentKind(models.TextChoices):
    RUNNING = "running", "Counting"
    PAUSED = "paused", "Paused"
    OUTSIDE_HOURS = "outside_hours", "Outside business hours"
    HOLIDAY = "holiday", "Holiday"


class ClockSegment(models.Model):
    """The SLA ledger: a clock's life cut into segments (counting, paused and why, outside
    business hours, holiday), each with the minutes it used and the versions it was computed
    under, so anyone can see minute by minute why a target was met or breached. Append-only
    but for the open segment's end."""

    clock = models.ForeignKey(TicketClock, on_delete=models.CASCADE, related_name="segments")
    kind = models.CharField(max_length=16, choices=SegmentKind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)  # None: still going
    business_minutes = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=200, blank=True)  # "Pending on the customer"
    policy_version = models.PositiveIntegerField()
    calendar_version = models.PositiveIntegerField()

    class Meta:
        ordering = ["clock", "starts_at", "id"]
        indexes = [models.Index(fields=["clock", "starts_at"], name="segment_clock_start")]

    def __str__(self) -> str:
        return f"{self.kind} from {self.starts_at}"


class RuleTrigger(models.TextChoices):
    EVENT = "event", "When a ticket changes"
    TIME = "time", "As time passes"


class EscalationRule(models.Model):
    """Conditions -> actions. Event rules run inside a ticket change's transaction; time rules
    from the worker's sweep. `conditions` and `actions` are lists of JSON objects validated by
    slas.services on save (docs/slas.md lists every field, operator and action)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    trigger = models.CharField(max_length=8, choices=RuleTrigger.choices)
    position = models.PositiveIntegerField(default=0)  # run order among rules of a trigger
    is_active = models.BooleanField(default=True)
    # [{"field": "sla.percent_elapsed", "op": "gte", "value": 75}, ...]
    conditions = models.JSONField(default=list)
    # [{"type": "notify", "to": "assignee"}, {"type": "set_priority", "value": "high"}, ...]
    actions = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["trigger", "position", "id"]
        indexes = [models.Index(fields=["trigger", "is_active", "position"], name="rule_run_order")]

    def __str__(self) -> str:
        return self.name


class RuleAlarm(models.Model):
    """When a time rule should next look at a ticket: computed from the ticket's clocks and
    timestamps when they change, so the sweep selects candidates by one indexed column instead
    of scanning open tickets. `occasion` names what the rule would fire for (a clock and a
    threshold, say), the key of the firing it would make."""

    rule = models.ForeignKey(EscalationRule, on_delete=models.CASCADE, related_name="alarms")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    occasion = models.CharField(max_length=100)
    due_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "ticket", "occasion"], name="one_alarm")
        ]
        indexes = [models.Index(fields=["due_at"], name="alarm_due")]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.ticket_id} at {self.due_at}"


class FiringOutcome(models.TextChoices):
    FIRED = "fired", "Fired"
    FAILED = "failed", "Failed"


class RuleFiring(models.Model):
    """A rule fired (or failed) on a ticket for an occasion. The unique constraint is the
    exactly-once guarantee: two workers sweeping at once cannot both insert it."""

    rule = models.ForeignKey(EscalationRule, on_delete=models.PROTECT, related_name="firings")
    rule_version = models.PositiveIntegerField()
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    # "event:<ticket event id>" for event rules; for time rules what the alarm named.
    occasion = models.CharField(max_length=100)
    outcome = models.CharField(max_length=8, choices=FiringOutcome.choices)
    # What each action did: [{"type": "set_priority", "from": "normal", "to": "high"}, ...]
    done = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    fired_at = models.DateTimeField()

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "ticket", "occasion"], name="rule_fires_once_per_occasion"
            )
        ]
        indexes = [
            models.Index(fields=["ticket", "-fired_at"], name="firing_ticket"),
            models.Index(fields=["rule", "-fired_at"], name="firing_rule"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.ticket_id} ({self.occasion})"


# --- the dashboard's daily rollup (docs/reports.md, "Pre-aggregation") ------------------------
# Written only by slas.services.rollup.refresh_sla_rollup, which recomputes whole report-days
# (settings.SLA_REPORT_TIME_ZONE) from the clocks and tickets. Team, assignee and tier are
# plain ids as they were at refresh time (no foreign keys: a deleted team must not block or
# cascade into history, and the refresh deletes and inserts whole days).


class SlaRollupDay(models.Model):
    """One refreshed report-day: the lock a refresh takes (select_for_update) and the instant
    its rows describe. sla_report reads a day from the rollup only when it was refreshed after
    the day was over (plus a grace for the breach sweep); any other day is counted live."""

    day = models.DateField(unique=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"SLA rollup {self.day}"


class SlaOutcomeRollup(models.Model):
    """Met and breached targets with their outcome on `day`, per target, team, assignee and
    customer tier (the ticket's, at refresh time)."""

    day = models.DateField()
    target = models.CharField(max_length=16, choices=SlaTarget.choices)
    team_id = models.BigIntegerField(null=True)
    assignee_id = models.BigIntegerField(null=True)
    tier_id = models.BigIntegerField(null=True)
    met = models.PositiveIntegerField(default=0)
    breached = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day", "target"], name="rollup_outcome_day")]

    def __str__(self) -> str:
        return f"{self.target} on {self.day}: {self.met} met, {self.breached} breached"


class MinutesDimension(models.TextChoices):
    ALL = "all", "All tickets"
    TEAM = "team", "Team"
    AGENT = "agent", "Assignee"
    TIER = "tier", "Tier"


class SlaMinutesRollup(models.Model):
    """A histogram of business minutes of the targets with an outcome on `day` (met and
    breached, timed targets only), for everyone (`dimension` all) and per team, per assignee
    and per tier (`dimension_id`; null = no team / unassigned / no tier). `bucket` is the
    lowest minute of the bucket (slas.services.rollup.BUCKET_SQL: 1 minute wide below 2
    hours, then 5, 30 and 300 minutes); `minutes` is the sum of the values in it, so a bucket
    holding one distinct value gives it exactly."""

    day = models.DateField()
    target = models.CharField(max_length=16, choices=SlaTarget.choices)
    dimension = models.CharField(max_length=8, choices=MinutesDimension.choices)
    dimension_id = models.BigIntegerField(null=True)
    bucket = models.PositiveIntegerField()
    count = models.PositiveIntegerField()
    minutes = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["dimension", "dimension_id", "day"], name="rollup_minutes_dim"),
            models.Index(fields=["day"], name="rollup_minutes_day"),
        ]

    def __str__(self) -> str:
        return f"{self.target} on {self.day}: {self.count} at {self.bucket}+ minutes"


class SlaTicketRollup(models.Model):
    """Tickets created and solved on `day`, per team, assignee and tier (at refresh time)."""

    day = models.DateField()
    team_id = models.BigIntegerField(null=True)
    assignee_id = models.BigIntegerField(null=True)
    tier_id = models.BigIntegerField(null=True)
    created = models.PositiveIntegerField(default=0)
    solved = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day"], name="rollup_ticket_day")]

    def __str__(self) -> str:
        return f"Tickets on {self.day}: {self.created} created, {self.solved} solved"


class SettingsStamp(models.Model):
    """One row whose `stamp` changes (a fresh random value, so a rolled-back change never hands
    its value to another) whenever a policy, its targets, a calendar or an escalation rule is
    written (slas.receivers). Each process caches the active policies and rules under the stamp
    it last read (slas.services.settings_cache); the clock engine reads the stamp in the same
    query as a ticket's clocks, so a message costs no query for the settings."""

    stamp = models.UUIDField()

    def __str__(self) -> str:
        return str(self.stamp)
