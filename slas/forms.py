"""The manager pages' forms: they turn what a browser posts into the `data` dict the services
take (slas.services: save_calendar, save_policy, save_rule, dry_run_rule) and put a broken
rule's field path ("hours.mon.1", "targets.high.first_reply_minutes", "conditions.2.value")
back next to the control it names. No rule is checked here that the service checks too: the
forms only read the page's shape (rows, "2h 30m"), the services decide what is valid.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django.http import QueryDict

from slas.models import WEEKDAYS
from tickets.models import Priority, SlaTarget

DAY_LABELS = dict(
    zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True)
)  # fmt: skip
TARGET_FIELDS = {
    SlaTarget.FIRST_REPLY: "first_reply_minutes",
    SlaTarget.NEXT_REPLY: "next_reply_minutes",
    SlaTarget.RESOLUTION: "resolution_minutes",
}
MAX_ROWS = 50  # intervals per day, conditions, actions: more is a hand-made request


@cache
def timezone_choices() -> list[str]:
    return sorted(available_timezones() - {"localtime", "Factory"})


@cache
def country_choices() -> list[tuple[str, str]]:
    """Countries the `holidays` library knows (two-letter codes), by name."""
    from holidays.registry import COUNTRIES

    choices = []
    for names in COUNTRIES.values():
        class_name, code = names[0], names[1]
        # Class names are the country in CamelCase ("UnitedKingdom"): spaced out for people.
        choices.append((code, re.sub(r"(?<=[a-z])(?=[A-Z])", " ", class_name)))
    return sorted(choices, key=lambda pair: pair[1])


# --- errors ---------------------------------------------------------------------------------
@dataclass
class Errors:
    """Messages by the control they belong to (field paths as the services name them)."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        if path:
            self.by_field.setdefault(path, []).append(message)
        else:
            self.general.append(message)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)

    def get(self, path: str) -> list[str]:
        return self.by_field.get(path, [])

    def unplaced(self, *placed: str) -> list[str]:
        """Messages whose field the page has no control for (shown at the top instead, so
        none is lost): `placed` are the paths, or prefixes ending in ".", it shows."""
        return [
            message
            for path, messages in self.by_field.items()
            if not any(
                path == known or (known.endswith(".") and (path + ".").startswith(known))
                for known in placed
            )
            for message in messages
        ]

    def under(self, prefix: str) -> list[str]:
        """Messages for `prefix` itself and anything below it ("hours.mon" gets hours.mon.1)."""
        return [
            message
            for path, messages in self.by_field.items()
            if path == prefix or path.startswith(prefix + ".")
            for message in messages
        ]


# --- durations: "2h 30m" --------------------------------------------------------------------
DURATION = re.compile(
    r"^\s*(?:(\d+)\s*h(?:ours?|rs?)?)?\s*(?:(\d+)\s*m(?:in(?:utes?|s)?)?)?\s*$", re.I
)


def parse_minutes(text: str) -> int | str | None:
    """'90', '90m', '1h 30m', '1h30', '2 h' -> minutes; '' -> None; otherwise an error text.

    Days are refused on purpose: targets count business minutes, and "1 day" would read as
    a working day to a person but 24 hours to the clock."""
    text = (text or "").strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    hm = re.fullmatch(r"(\d+)\s*h\s*(\d+)", text, re.I)
    if hm:
        return int(hm.group(1)) * 60 + int(hm.group(2))
    match = DURATION.match(text)
    if match and (match.group(1) or match.group(2)):
        return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
    if re.search(r"\d\s*d", text, re.I):
        return "Write days as business hours (a working day of 8 hours: 8h)."
    return "Write minutes (90) or hours and minutes (1h 30m)."


def minutes_text(minutes: int | None) -> str:
    """The normal form shown back: 90 -> '1h 30m', 60 -> '1h', 45 -> '45m'."""
    if minutes is None:
        return ""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h {rest}m" if rest else f"{hours}h"


# --- calendars ------------------------------------------------------------------------------
def calendar_rows(post: QueryDict) -> dict[str, list[dict[str, str]]]:
    """The weekly hours as the page posted them: per day, rows of start/end (empty rows
    dropped), in the order shown: the index in "hours.mon.1" is the row's position here."""
    hours: dict[str, list[dict[str, str]]] = {}
    for day in WEEKDAYS:
        starts = post.getlist(f"hours-{day}-start")[:MAX_ROWS]
        ends = post.getlist(f"hours-{day}-end")[:MAX_ROWS]
        rows = []
        for start, end in zip(starts, ends, strict=False):
            if start.strip() or end.strip():
                rows.append({"start": start.strip(), "end": end.strip()})
        hours[day] = rows
    return hours


def calendar_data(post: QueryDict) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    rows = calendar_rows(post)
    holidays_text = post.get("holidays", "")
    data: dict[str, Any] = {
        "name": post.get("name", "").strip(),
        "timezone": post.get("timezone", "").strip(),
        "always_open": post.get("always_open") == "on",
        "is_active": post.get("is_active") == "on",
        "hours": {
            day: [[r["start"], r["end"]] for r in day_rows] for day, day_rows in rows.items()
        },
        "holidays": [line.strip() for line in re.split(r"[\n,]", holidays_text) if line.strip()],
        "holiday_country": post.get("holiday_country", "").strip().upper(),
        "holiday_subdivision": post.get("holiday_subdivision", "").strip().upper(),
    }
    return data, rows


def calendar_initial(calendar: Any) -> dict[str, Any]:
    if calendar is None:
        office = [{"start": "09:00", "end": "17:00"}]
        return {
            "name": "",
            "timezone": "UTC",
            "always_open": False,
            "is_active": True,
            "rows": {day: list(office) if day not in ("sat", "sun") else [] for day in WEEKDAYS},
            "holidays": "",
            "holiday_country": "",
            "holiday_subdivision": "",
        }
    hours = calendar.hours or {}
    return {
        "name": calendar.name,
        "timezone": calendar.timezone,
        "always_open": calendar.always_open,
        "is_active": calendar.is_active,
        "rows": {day: [{"start": a, "end": b} for a, b in hours.get(day, [])] for day in WEEKDAYS},
        "holidays": "\n".join(calendar.holidays or []),
        "holiday_country": calendar.holiday_country,
        "holiday_subdivision": calendar.holiday_subdivision,
    }


def calendar_values(data: dict[str, Any], rows: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """What a refused form shows back: exactly what was posted."""
    return {
        "name": data["name"],
        "timezone": data["timezone"],
        "always_open": data["always_open"],
        "is_active": data["is_active"],
        "rows": rows,
        "holidays": "\n".join(data["holidays"]),
        "holiday_country": data["holiday_country"],
        "holiday_subdivision": data["holiday_subdivision"],
    }


def is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


# --- policies -------------------------------------------------------------------------------
CONDITION_KEYS = ("tiers", "organizations", "teams", "channels", "types", "tags")


def policy_data(post: QueryDict) -> tuple[dict[str, Any], dict[str, Any], Errors]:
    """The service's data, the values to show back, and the errors of the page's own shape
    (a duration it cannot read)."""
    errors = Errors()
    conditions: dict[str, list[Any]] = {}
    for key in ("tiers", "channels", "types"):
        conditions[key] = [v for v in post.getlist(f"cond_{key}") if v]
    for key in ("organizations", "teams"):
        conditions[key] = [int(v) for v in post.getlist(f"cond_{key}") if v.isdigit()]
    tags_text = post.get("cond_tags", "")
    conditions["tags"] = [t.strip() for t in tags_text.split(",") if t.strip()]
    conditions = {key: value for key, value in conditions.items() if value}

    targets: dict[str, dict[str, int | None]] = {}
    shown: dict[str, dict[str, str]] = {}
    for priority in Priority.values:
        row: dict[str, int | None] = {}
        shown[priority] = {}
        for name in TARGET_FIELDS.values():
            text = post.get(f"target-{priority}-{name}", "")
            parsed = parse_minutes(text)
            if isinstance(parsed, str):
                errors.add(f"targets.{priority}.{name}", parsed)
                shown[priority][name] = text
                continue
            row[name] = parsed
            shown[priority][name] = minutes_text(parsed) if parsed is not None else ""
        if any(value is not None for value in row.values()):
            targets[priority] = row
    calendar = post.get("calendar", "")
    position = post.get("position", "0").strip()
    data: dict[str, Any] = {
        "name": post.get("name", "").strip(),
        "description": post.get("description", "").strip(),
        "position": int(position) if position.isdigit() else position,
        "is_default": post.get("is_default") == "on",
        "is_active": post.get("is_active") == "on",
        "pause_on_hold": post.get("pause_on_hold") == "on",
        "conditions": conditions,
        "calendar": int(calendar) if calendar.isdigit() else None,
        "targets": targets,
    }
    if not position.isdigit():
        errors.add("position", "The position is a whole number (0 first).")
    values = {
        **data,
        "targets_text": shown,
        "cond_tags": tags_text,
        "calendar_id": data["calendar"],
    }
    return data, values, errors


def policy_initial(policy: Any) -> dict[str, Any]:
    if policy is None:
        return {
            "name": "",
            "description": "",
            "position": 0,
            "is_default": False,
            "is_active": True,
            "pause_on_hold": False,
            "conditions": {},
            "calendar_id": None,
            "cond_tags": "",
            "targets_text": {p: dict.fromkeys(TARGET_FIELDS.values(), "") for p in Priority.values},
        }
    targets = {t.priority: t for t in policy.targets.all()}
    return {
        "name": policy.name,
        "description": policy.description,
        "position": policy.position,
        "is_default": policy.is_default,
        "is_active": policy.is_active,
        "pause_on_hold": policy.pause_on_hold,
        "conditions": policy.conditions or {},
        "calendar_id": policy.calendar_id,
        "cond_tags": ", ".join((policy.conditions or {}).get("tags", [])),
        "targets_text": {
            p: {
                name: minutes_text(getattr(targets[p], name)) if p in targets else ""
                for name in TARGET_FIELDS.values()
            }
            for p in Priority.values
        },
    }


# --- rules ----------------------------------------------------------------------------------
def _indices(post: QueryDict, prefix: str) -> list[str]:
    """The row numbers the page posted for `prefix` ("cond"), in page order."""
    seen: list[str] = []
    for index in post.getlist(f"{prefix}-rows")[:MAX_ROWS]:
        if index.isdigit() and index not in seen:
            seen.append(index)
    return seen


def rule_data(post: QueryDict, catalog: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rule as save_rule / dry_run_rule read it, and the rows to show back (each row keeps
    the number it had on the page; position i in the data is row i in `values`)."""
    fields = catalog["fields"]
    conditions: list[dict[str, Any]] = []
    cond_rows: list[dict[str, Any]] = []
    for index in _indices(post, "cond"):
        key = post.get(f"cond-{index}-field", "")
        op = post.get(f"cond-{index}-op", "")
        spec = fields.get(key, {})
        raw_list = [v for v in post.getlist(f"cond-{index}-value") if v != ""]
        raw_text = post.get(f"cond-{index}-text", "").strip()
        value = _condition_value(spec, raw_list, raw_text)
        condition: dict[str, Any] = {"field": key, "op": op}
        if op not in spec.get("valueless", ()):
            condition["value"] = value
        target = post.get(f"cond-{index}-target", "")
        if spec.get("targets") and target:
            condition["target"] = target
        conditions.append(condition)
        cond_rows.append(
            {"index": index, "field": key, "op": op, "values": raw_list, "text": raw_text,
             "target": target}
        )  # fmt: skip
    actions: list[dict[str, Any]] = []
    action_rows: list[dict[str, Any]] = []
    for index in _indices(post, "act"):
        kind = post.get(f"act-{index}-type", "")
        spec = catalog["actions"].get(kind, {"params": []})
        action: dict[str, Any] = {"type": kind}
        params: dict[str, str] = {}
        for param in catalog["all_params"]:
            raw = post.get(f"act-{index}-{param}", "").strip()
            params[param] = raw
            if param in spec["params"] and raw != "":
                action[param] = int(raw) if catalog["param_kinds"].get(param) in (
                    "team", "agent", "level") and raw.isdigit() else raw  # fmt: skip
        actions.append(action)
        action_rows.append({"index": index, "type": kind, "params": params})
    position = post.get("position", "0").strip()
    data = {
        "name": post.get("name", "").strip(),
        "description": post.get("description", "").strip(),
        "trigger": post.get("trigger", ""),
        "position": int(position) if position.isdigit() else position,
        "is_active": post.get("is_active") == "on",
        "conditions": conditions,
        "actions": actions,
    }
    values = {**data, "cond_rows": cond_rows, "action_rows": action_rows}
    return data, values


def _condition_value(spec: dict[str, Any], raw_list: list[str], raw_text: str) -> Any:
    kind = spec.get("kind", "")
    if kind in ("choices", "ids"):
        return [int(v) if kind == "ids" and v.isdigit() else v for v in raw_list]
    if kind == "boolean":
        return (raw_list or [raw_text])[0] == "true"
    if kind in ("tags", "words"):
        return [part.strip() for part in raw_text.split(",") if part.strip()]
    if kind in ("number", "minutes", "percent"):
        if kind == "minutes":
            parsed = parse_minutes(raw_text)
            return parsed if isinstance(parsed, int) else raw_text
        try:
            number = float(raw_text)
        except ValueError:
            return raw_text
        return int(number) if number.is_integer() else number
    return raw_text


def rule_initial(rule: Any, catalog: dict[str, Any]) -> dict[str, Any]:
    if rule is None:
        return {
            "name": "",
            "description": "",
            "trigger": "time",
            "position": 0,
            "is_active": True,
            "cond_rows": [
                {
                    "index": "0",
                    "field": "sla.percent_elapsed",
                    "op": "gte",
                    "values": [],
                    "text": "75",
                    "target": "any",
                }
            ],
            "action_rows": [
                {
                    "index": "0",
                    "type": "notify",
                    "params": {**dict.fromkeys(catalog["all_params"], ""), "to": "assignee"},
                }
            ],
        }
    cond_rows = []
    for index, condition in enumerate(rule.conditions or []):
        spec = catalog["fields"].get(condition.get("field"), {})
        value = condition.get("value")
        kind = spec.get("kind", "")
        values: list[str] = []
        text = ""
        if kind in ("choices", "ids"):
            values = [str(v) for v in (value or [])]
        elif kind == "boolean":
            values = ["true" if value else "false"]
        elif kind in ("tags", "words"):
            text = ", ".join(str(v) for v in (value or []))
        elif value is not None:
            text = str(value)
        cond_rows.append(
            {"index": str(index), "field": condition.get("field", ""),
             "op": condition.get("op", ""), "values": values, "text": text,
             "target": condition.get("target", "")}
        )  # fmt: skip
    action_rows = []
    for index, action in enumerate(rule.actions or []):
        params = {p: str(action.get(p, "")) for p in catalog["all_params"]}
        action_rows.append({"index": str(index), "type": action.get("type", ""), "params": params})
    return {
        "name": rule.name,
        "description": rule.description,
        "trigger": rule.trigger,
        "position": rule.position,
        "is_active": rule.is_active,
        "cond_rows": cond_rows,
        "action_rows": action_rows,
    }
