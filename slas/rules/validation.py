"""A rule's data checked and normalized before it is saved or dry-run: every refusal is a
RuleBroken naming the exact place ("conditions.2.value", "actions.0.team")."""

from decimal import Decimal, InvalidOperation
from typing import Any

from accounts.models import Team, User
from accounts.selectors import is_agent
from core.errors import RuleBroken
from customers.models import Organization, Tag, Tier
from slas.models import RuleTrigger
from slas.rules import catalog
from tickets.services.sla import MAX_ESCALATION_LEVEL

MAX_CONDITIONS = 20
MAX_ACTIONS = 10
MAX_LIST_VALUES = 50
MAX_WORD_LENGTH = 100
MAX_MINUTES = 525_600
NAME_MAX_LENGTH = 100


def _require_int_list(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise RuleBroken(where, "Give a non-empty list of ids.")
    if len(value) > MAX_LIST_VALUES:
        raise RuleBroken(where, f"At most {MAX_LIST_VALUES} values.")
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        raise RuleBroken(where, "Ids are whole numbers.")
    return sorted(set(value))


def _require_str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise RuleBroken(where, "Give a non-empty list.")
    if len(value) > MAX_LIST_VALUES:
        raise RuleBroken(where, f"At most {MAX_LIST_VALUES} values.")
    if not all(isinstance(item, str) and item.strip() for item in value):
        raise RuleBroken(where, "Every value is a non-empty text.")
    return [item.strip() for item in value]


def _missing_ids(model: str, ids: list[int]) -> list[int]:
    if model == "team":
        found = set(Team.objects.filter(pk__in=ids).values_list("pk", flat=True))
    elif model == "agent":
        found = {user.pk for user in User.objects.filter(pk__in=ids) if is_agent(user)}
    elif model == "tier":
        found = set(Tier.objects.filter(pk__in=ids).values_list("pk", flat=True))
    else:
        found = set(Organization.objects.filter(pk__in=ids).values_list("pk", flat=True))
    return [pk for pk in ids if pk not in found]


MODEL_NOUNS = {
    "team": "team",
    "agent": "active agent",
    "tier": "tier",
    "organization": "organization",
}


def _clean_value(spec: catalog.ConditionField, value: Any, where: str) -> Any:
    kind = spec.kind
    if kind == catalog.CHOICES:
        values = _require_str_list(value, where)
        allowed = {key for key, _ in spec.choices}
        for item in values:
            if item not in allowed:
                raise RuleBroken(where, f"{item!r} is not a {spec.label.lower()}.")
        return sorted(set(values))
    if kind == catalog.IDS:
        ids = _require_int_list(value, where)
        missing = _missing_ids(spec.model, ids)
        if missing:
            raise RuleBroken(where, f"No {MODEL_NOUNS[spec.model]} with id {missing[0]}.")
        return ids
    if kind == catalog.TAGS:
        names = sorted({name.lower() for name in _require_str_list(value, where)})
        found = set(Tag.objects.filter(name__in=names).values_list("name", flat=True))
        missing_tags = [name for name in names if name not in found]
        if missing_tags:
            raise RuleBroken(where, f"No tag named {missing_tags[0]!r}.")
        return names
    if kind == catalog.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise RuleBroken(where, "Give a number.")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise RuleBroken(where, "Give a number.") from None
        if not number.is_finite() or abs(number) >= Decimal("1e10"):
            raise RuleBroken(where, "Give a number.")
        return str(number)
    if kind in (catalog.MINUTES, catalog.PERCENT):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RuleBroken(where, "Give a whole number.")
        low, high = (0, MAX_MINUTES) if kind == catalog.MINUTES else (1, 1000)
        if not low <= value <= high:
            raise RuleBroken(where, f"Give a whole number from {low} to {high:,}.")
        return value
    if kind == catalog.BOOLEAN:
        if not isinstance(value, bool):
            raise RuleBroken(where, "Give true or false.")
        return value
    # WORDS
    words = _require_str_list(value, where)
    if any(len(word) > MAX_WORD_LENGTH for word in words):
        raise RuleBroken(where, f"A keyword is at most {MAX_WORD_LENGTH} characters.")
    return sorted({" ".join(word.lower().split()) for word in words})


def clean_condition(raw: Any, index: int) -> dict[str, Any]:
    where = f"conditions.{index}"
    if not isinstance(raw, dict):
        raise RuleBroken(where, "A condition is an object with field, op and value.")
    key = raw.get("field")
    spec = catalog.CONDITION_FIELDS_BY_KEY.get(key) if isinstance(key, str) else None
    if spec is None:
        raise RuleBroken(f"{where}.field", f"{key!r} is not a condition field.")
    op = raw.get("op")
    if op not in spec.operators:
        allowed = ", ".join(spec.operators)
        raise RuleBroken(f"{where}.op", f"{spec.label} takes the operators: {allowed}.")
    unknown = set(raw) - {"field", "op", "value", "target"}
    if unknown:
        raise RuleBroken(f"{where}.{sorted(unknown)[0]}", "Unknown key in a condition.")
    cleaned: dict[str, Any] = {"field": key, "op": op}
    if op in catalog.VALUELESS:
        if raw.get("value") is not None:
            raise RuleBroken(f"{where}.value", f"'{catalog.OPERATORS[op]}' takes no value.")
    else:
        if "value" not in raw:
            raise RuleBroken(f"{where}.value", "This condition needs a value.")
        cleaned["value"] = _clean_value(spec, raw["value"], f"{where}.value")
    if spec.takes_target:
        target = raw.get("target", "any")
        if target not in {key for key, _ in catalog.SLA_TARGET_CHOICES}:
            raise RuleBroken(f"{where}.target", f"{target!r} is not an SLA target.")
        cleaned["target"] = target
    elif "target" in raw:
        raise RuleBroken(f"{where}.target", f"{spec.label} takes no target.")
    return cleaned


def _text(raw: dict[str, Any], key: str, where: str, limit: int, *, required: bool) -> str:
    value = raw.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise RuleBroken(f"{where}.{key}", "Give a text.")
    value = value.strip()
    if required and not value:
        raise RuleBroken(f"{where}.{key}", "This action needs a text.")
    if len(value) > limit:
        raise RuleBroken(f"{where}.{key}", f"At most {limit} characters.")
    return value


def _one_id(raw: dict[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if value is None:
        raise RuleBroken(f"{where}.{key}", "This action needs it.")
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleBroken(f"{where}.{key}", "Give an id (a whole number).")
    return value


def _agent(raw: dict[str, Any], key: str, where: str) -> int:
    pk = _one_id(raw, key, where)
    user = User.objects.filter(pk=pk).first()
    if not is_agent(user):
        raise RuleBroken(f"{where}.{key}", f"No active agent with id {pk}.")
    return pk


def clean_action(raw: Any, index: int) -> dict[str, Any]:
    where = f"actions.{index}"
    if not isinstance(raw, dict):
        raise RuleBroken(where, "An action is an object with a type.")
    kind = raw.get("type")
    spec = catalog.ACTIONS_BY_KEY.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise RuleBroken(f"{where}.type", f"{kind!r} is not an action.")
    unknown = set(raw) - {"type"} - {param.key for param in spec.params}
    if unknown:
        raise RuleBroken(f"{where}.{sorted(unknown)[0]}", "Unknown key in this action.")
    cleaned: dict[str, Any] = {"type": kind}
    if kind == "set_priority":
        priority = raw.get("priority")
        if priority not in {key for key, _ in spec.params[0].choices}:
            raise RuleBroken(f"{where}.priority", f"{priority!r} is not a priority.")
        cleaned["priority"] = priority
    elif kind == "assign_team":
        pk = _one_id(raw, "team", where)
        team = Team.objects.filter(pk=pk).first()
        if team is None:
            raise RuleBroken(f"{where}.team", f"No team with id {pk}.")
        if not team.is_active:
            raise RuleBroken(f"{where}.team", f"{team.name} is archived and takes no tickets.")
        cleaned["team"] = pk
    elif kind == "assign_agent":
        cleaned["agent"] = _agent(raw, "agent", where)
    elif kind == "add_tag":
        name = _text(raw, "tag", where, 50, required=True).lower()
        if not Tag.objects.filter(name=name).exists():
            raise RuleBroken(f"{where}.tag", f"No tag named {name!r}.")
        cleaned["tag"] = name
    elif kind == "add_note":
        cleaned["body"] = _text(raw, "body", where, catalog.NOTE_MAX_LENGTH, required=True)
    elif kind == "set_escalation_level":
        level = raw.get("level")
        if isinstance(level, bool) or not isinstance(level, int):
            raise RuleBroken(f"{where}.level", "Give a whole number.")
        if not 1 <= level <= MAX_ESCALATION_LEVEL:
            raise RuleBroken(f"{where}.level", f"A level is from 1 to {MAX_ESCALATION_LEVEL}.")
        cleaned["level"] = level
    else:  # notify
        to = raw.get("to")
        if to not in {key for key, _ in catalog.NOTIFY_RECIPIENTS}:
            raise RuleBroken(f"{where}.to", "Notify the assignee, the team_manager or a user.")
        cleaned["to"] = to
        if to == "user":
            cleaned["user"] = _agent(raw, "user", where)
        elif raw.get("user") is not None:
            raise RuleBroken(f"{where}.user", "Only 'a chosen agent' takes a user.")
        message = _text(raw, "message", where, catalog.MESSAGE_MAX_LENGTH, required=False)
        if message:
            cleaned["message"] = message
    return cleaned


def clean_rule_data(data: Any, *, current: dict[str, Any]) -> dict[str, Any]:
    """`data` over `current` (a saved rule's values, or the defaults), checked. Missing keys
    keep their current value."""
    if not isinstance(data, dict):
        raise RuleBroken("rule", "A rule is an object.")
    merged = {**current, **{key: value for key, value in data.items() if key in current}}
    unknown = set(data) - set(current)
    if unknown:
        raise RuleBroken(sorted(unknown)[0], "Unknown rule field.")

    name = merged["name"]
    if not isinstance(name, str) or not name.strip():
        raise RuleBroken("name", "A rule needs a name.")
    name = " ".join(name.split())
    if len(name) > NAME_MAX_LENGTH:
        raise RuleBroken("name", f"A name is at most {NAME_MAX_LENGTH} characters.")
    description = merged["description"]
    if not isinstance(description, str) or len(description) > 2000:
        raise RuleBroken("description", "A description is a text of at most 2,000 characters.")
    trigger = merged["trigger"]
    if trigger not in RuleTrigger.values:
        raise RuleBroken("trigger", "A rule runs on 'event' (a ticket change) or 'time'.")
    position = merged["position"]
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 10_000:
        raise RuleBroken("position", "A position is a whole number from 0 to 10,000.")
    is_active = merged["is_active"]
    if not isinstance(is_active, bool):
        raise RuleBroken("is_active", "Give true or false.")

    raw_conditions = merged["conditions"]
    if not isinstance(raw_conditions, list):
        raise RuleBroken("conditions", "Conditions are a list.")
    if len(raw_conditions) > MAX_CONDITIONS:
        raise RuleBroken("conditions", f"At most {MAX_CONDITIONS} conditions.")
    conditions = [clean_condition(raw, index) for index, raw in enumerate(raw_conditions)]
    raw_actions = merged["actions"]
    if not isinstance(raw_actions, list) or not raw_actions:
        raise RuleBroken("actions", "A rule needs at least one action.")
    if len(raw_actions) > MAX_ACTIONS:
        raise RuleBroken("actions", f"At most {MAX_ACTIONS} actions.")
    actions = [clean_action(raw, index) for index, raw in enumerate(raw_actions)]

    if trigger == RuleTrigger.TIME and not any(
        catalog.CONDITION_FIELDS_BY_KEY[c["field"]].time_based for c in conditions
    ):
        raise RuleBroken(
            "conditions",
            "A time rule needs a time condition (SLA state or time since a message).",
        )
    if trigger == RuleTrigger.TIME and any(
        c["field"] == "sla.breached" and c["value"] is False for c in conditions
    ):
        raise RuleBroken("conditions", "A time rule cannot wait for 'not breached'.")
    return {
        "name": name,
        "description": description.strip(),
        "trigger": trigger,
        "position": position,
        "is_active": is_active,
        "conditions": conditions,
        "actions": actions,
    }
