"""Every condition field and action a rule may use: the one list the validation, the engine,
the API schema, the editor page and docs/escalation.md are written from."""

from dataclasses import asdict, dataclass, field
from typing import Any

from tickets.models import Channel, Priority, SlaTarget, Status, TicketType

# Value kinds: what a condition's "value" holds.
CHOICES = "choices"  # a non-empty list of the field's choice keys
IDS = "ids"  # a non-empty list of ids of existing rows (teams, agents, tiers, organizations)
TAGS = "tags"  # a non-empty list of existing tag names
NUMBER = "number"  # a number (int or decimal)
MINUTES = "minutes"  # a whole number of minutes, 0 to 525,600 (a year)
PERCENT = "percent"  # a whole percentage, 1 to 1,000 (over 100: past the due instant)
BOOLEAN = "boolean"  # true or false
WORDS = "words"  # a non-empty list of words or phrases, matched case-insensitively

# Operators and what they read.
OPERATORS: dict[str, str] = {
    "in": "is one of",
    "not_in": "is not one of",
    "is_set": "is set",
    "is_not_set": "is not set",
    "gte": "is at least",
    "lte": "is at most",
    "is": "is",
    "has_any": "has any of",
    "has_all": "has all of",
    "has_none": "has none of",
    "contains_any": "contains any of",
}
# Operators that take no value.
VALUELESS = frozenset({"is_set", "is_not_set"})

# Which SLA target a condition on SLA state looks at ("any": any running target).
SLA_TARGET_CHOICES: tuple[tuple[str, str], ...] = (("any", "Any target"), *SlaTarget.choices)

# Statuses in which a ticket is still being worked: dry runs and time rules look only at these.
OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)


@dataclass(frozen=True)
class ConditionField:
    key: str
    label: str
    operators: tuple[str, ...]
    kind: str
    choices: tuple[tuple[str, str], ...] = ()
    # For IDS: which rows the ids name ("team", "agent", "tier", "organization").
    model: str = ""
    # Time conditions become true as time passes: a time rule needs one (docs/escalation.md).
    time_based: bool = False
    # SLA conditions take an optional "target" key (SLA_TARGET_CHOICES, default "any").
    takes_target: bool = False
    help: str = ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["operators"] = [{"key": op, "label": OPERATORS[op]} for op in self.operators]
        data["choices"] = [{"key": key, "label": label} for key, label in self.choices]
        if self.takes_target:
            data["targets"] = [{"key": key, "label": label} for key, label in SLA_TARGET_CHOICES]
        return data


RULE_CONDITION_FIELDS: tuple[ConditionField, ...] = (
    ConditionField("status", "Status", ("in", "not_in"), CHOICES, tuple(Status.choices)),
    ConditionField("priority", "Priority", ("in", "not_in"), CHOICES, tuple(Priority.choices)),
    ConditionField("type", "Type", ("in", "not_in"), CHOICES, tuple(TicketType.choices)),
    ConditionField("channel", "Channel", ("in", "not_in"), CHOICES, tuple(Channel.choices)),
    ConditionField("team", "Team", ("in", "not_in", "is_set", "is_not_set"), IDS, model="team"),
    ConditionField(
        "assignee", "Assignee", ("in", "not_in", "is_set", "is_not_set"), IDS, model="agent"
    ),
    ConditionField("tags", "Tags", ("has_any", "has_all", "has_none"), TAGS),
    ConditionField("customer.tier", "Customer tier", ("in", "not_in"), IDS, model="tier"),
    ConditionField(
        "customer.organization",
        "Customer organization",
        ("in", "not_in", "is_set", "is_not_set"),
        IDS,
        model="organization",
    ),
    ConditionField("customer.lifetime_value", "Customer lifetime value", ("gte", "lte"), NUMBER),
    ConditionField(
        "sla.percent_elapsed",
        "Percent of an SLA target used",
        ("gte",),
        PERCENT,
        time_based=True,
        takes_target=True,
        help="Business time used of a running target's minutes (75: three quarters used).",
    ),
    ConditionField(
        "sla.minutes_to_breach",
        "Minutes until an SLA target breaches",
        ("lte",),
        MINUTES,
        time_based=True,
        takes_target=True,
        help="Real minutes until a running target's due instant.",
    ),
    ConditionField(
        "sla.breached",
        "An SLA target is breached",
        ("is",),
        BOOLEAN,
        time_based=True,
        takes_target=True,
        help="A running target is past its due instant.",
    ),
    ConditionField(
        "time.since_customer_message",
        "Minutes since the customer's last message",
        ("gte",),
        MINUTES,
        time_based=True,
    ),
    ConditionField(
        "time.since_agent_reply",
        "Minutes since the last agent reply",
        ("gte",),
        MINUTES,
        time_based=True,
        help="Public replies only; a ticket no agent has answered yet does not match.",
    ),
    ConditionField(
        "message.keywords",
        "Last customer message contains",
        ("contains_any",),
        WORDS,
        help="Case-insensitive, in the plain text of the customer's latest message.",
    ),
)
CONDITION_FIELDS_BY_KEY = {spec.key: spec for spec in RULE_CONDITION_FIELDS}

NOTIFY_RECIPIENTS: tuple[tuple[str, str], ...] = (
    ("assignee", "The ticket's assignee"),
    ("team_manager", "The manager of the ticket's team"),
    ("user", "A chosen agent"),
)


@dataclass(frozen=True)
class ActionParam:
    key: str
    label: str
    kind: str  # CHOICES, "team", "agent", "tag", "text", "level"
    choices: tuple[tuple[str, str], ...] = ()
    required: bool = True


@dataclass(frozen=True)
class RuleAction:
    key: str
    label: str
    params: tuple[ActionParam, ...] = field(default_factory=tuple)
    help: str = ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for param in data["params"]:
            param["choices"] = [{"key": key, "label": label} for key, label in param["choices"]]
        return data


NOTE_MAX_LENGTH = 2000
MESSAGE_MAX_LENGTH = 500

RULE_ACTIONS: tuple[RuleAction, ...] = (
    RuleAction(
        "set_priority",
        "Raise the priority",
        (ActionParam("priority", "To", CHOICES, tuple(Priority.choices)),),
        help="Never lowers: a ticket already at or above it is left as it is.",
    ),
    RuleAction("assign_team", "Assign to a team", (ActionParam("team", "Team", "team"),)),
    RuleAction("assign_agent", "Assign to an agent", (ActionParam("agent", "Agent", "agent"),)),
    RuleAction("add_tag", "Add a tag", (ActionParam("tag", "Tag", "tag"),)),
    RuleAction(
        "add_note",
        "Add an internal note",
        (ActionParam("body", "Note", "text"),),
        help="Written by the system, seen by agents only.",
    ),
    RuleAction(
        "set_escalation_level",
        "Set the escalation level",
        (ActionParam("level", "Level (1-9)", "level"),),
        help="Never lowers it.",
    ),
    RuleAction(
        "notify",
        "Notify",
        (
            ActionParam("to", "Who", CHOICES, NOTIFY_RECIPIENTS),
            ActionParam("user", "Agent (when 'a chosen agent')", "agent", required=False),
            ActionParam("message", "Message", "text", required=False),
        ),
        help="Live in the agent UI and by email.",
    ),
)
ACTIONS_BY_KEY = {spec.key: spec for spec in RULE_ACTIONS}


def catalog_as_json() -> dict[str, Any]:
    """The catalog as the API and the editor page serve it."""
    return {
        "conditions": [spec.as_json() for spec in RULE_CONDITION_FIELDS],
        "actions": [spec.as_json() for spec in RULE_ACTIONS],
    }
