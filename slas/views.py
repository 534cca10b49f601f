"""The SLA pages of the agent UI: business calendars, SLA policies and escalation rules
(managers only: list, create, edit, a rule's dry run), and the SLA ledger fragment that the
ticket workspace loads for any agent who may see the ticket.

Thin doors: reads through slas.selectors / tickets_visible_to, writes only through
slas.services, and a broken rule (core.errors.RuleBroken) shown next to the control its field
path names ("hours.mon.1", "targets.high.first_reply_minutes", "conditions.2.value").
"""

from http import HTTPStatus
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import AgentRequest, agent_required, manager_required
from accounts.models import Team
from accounts.selectors import active_agents
from core.errors import RuleBroken
from customers.models import Organization, Tier
from slas import selectors
from slas import services as sla_services
from slas.forms import (
    DAY_LABELS,
    TARGET_FIELDS,
    Errors,
    calendar_data,
    calendar_initial,
    calendar_values,
    country_choices,
    policy_data,
    policy_initial,
    rule_data,
    rule_initial,
    timezone_choices,
)
from slas.models import BusinessCalendar, EscalationRule, SlaPolicy, TeamCalendar
from slas.rules.catalog import OPERATORS, VALUELESS
from slas.services import RULE_ACTIONS, RULE_CONDITION_FIELDS, dry_run_rule, save_rule
from tickets.models import Channel, Priority, SlaTarget, TicketType
from tickets.selectors import tickets_visible_to

MAX_CHOICES = 300  # organizations in a menu; a desk with more picks by tag or tier


def _broken(errors: Errors, broken: RuleBroken) -> None:
    errors.add(broken.field or "", broken.message)


# --- calendars ------------------------------------------------------------------------------
@require_GET
@manager_required
def calendar_list(request: AgentRequest) -> HttpResponse:
    calendars = BusinessCalendar.objects.annotate(
        policy_count=Count("policies", distinct=True)
    ).order_by("name")
    return render(request, "slas/calendar_list.html", {"calendars": list(calendars)})


def _calendar_page(
    request: AgentRequest,
    calendar: BusinessCalendar | None,
    values: dict[str, Any],
    errors: Errors,
    team_ids: set[int],
    status: int = HTTPStatus.OK,
) -> HttpResponse:
    days = [
        {"key": day, "label": label, "rows": values["rows"].get(day, []),
         "errors": errors.get(f"hours.{day}")}
        for day, label in DAY_LABELS.items()
    ]  # fmt: skip
    for day in days:
        for position, row in enumerate(day["rows"]):
            row["errors"] = errors.under(f"hours.{day['key']}.{position}")
    context = {
        "unplaced": errors.unplaced(
            "name",
            "timezone",
            "always_open",
            "holiday_country",
            "holiday_subdivision",
            "holidays",
            "holidays.",
            "hours",
            "hours.",
            "team",
        ),
        "calendar": calendar,
        "values": values,
        "days": days,
        "errors": errors,
        "timezones": timezone_choices(),
        "countries": country_choices(),
        "teams": list(Team.objects.order_by("name")),
        "team_ids": team_ids,
    }
    return render(request, "slas/calendar_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@manager_required
def calendar_edit(request: AgentRequest, pk: int | None = None) -> HttpResponse:
    calendar = get_object_or_404(BusinessCalendar, pk=pk) if pk is not None else None
    current_teams = (
        set(TeamCalendar.objects.filter(calendar=calendar).values_list("team_id", flat=True))
        if calendar
        else set()
    )
    if request.method == "GET":
        return _calendar_page(
            request, calendar, calendar_initial(calendar), Errors(), current_teams
        )
    data, rows = calendar_data(request.POST)
    chosen = {int(v) for v in request.POST.getlist("teams") if v.isdigit()}
    errors = Errors()
    try:
        with transaction.atomic():
            saved = sla_services.save_calendar(actor=request.user, calendar=calendar, data=data)
            teams = Team.objects.filter(pk__in=chosen | current_teams)
            for team in teams:
                if team.pk in chosen:
                    sla_services.set_team_calendar(actor=request.user, team=team, calendar=saved)
                elif team.pk in current_teams:
                    sla_services.set_team_calendar(actor=request.user, team=team, calendar=None)
    except RuleBroken as broken:
        _broken(errors, broken)
        return _calendar_page(
            request, calendar, calendar_values(data, rows), errors, chosen, HTTPStatus.BAD_REQUEST
        )
    return redirect("slas:calendars")


# --- policies -------------------------------------------------------------------------------
@require_GET
@manager_required
def policy_list(request: AgentRequest) -> HttpResponse:
    policies = list(
        SlaPolicy.objects.select_related("calendar")
        .prefetch_related("targets")
        .order_by("position", "id")
    )
    # The conditions hold slugs and ids: their names, one query per kind whatever the count.
    wanted: dict[str, set[Any]] = {"tiers": set(), "teams": set(), "organizations": set()}
    for policy in policies:
        for key, found in wanted.items():
            found.update((policy.conditions or {}).get(key, []))
    names: dict[str, dict[Any, str]] = {
        "tiers": dict(Tier.objects.filter(slug__in=wanted["tiers"]).values_list("slug", "name")),
        "teams": dict(Team.objects.filter(pk__in=wanted["teams"]).values_list("pk", "name")),
        "organizations": dict(
            Organization.objects.filter(pk__in=wanted["organizations"]).values_list("pk", "name")
        ),
        "channels": dict(Channel.choices),
        "types": dict(TicketType.choices),
    }
    for policy in policies:
        policy.applies_to = conditions_in_words(policy.conditions or {}, names)  # type: ignore[attr-defined]
    return render(request, "slas/policy_list.html", {"policies": policies})


def conditions_in_words(conditions: dict[str, list[Any]], names: dict[str, dict[Any, str]]) -> str:
    """'Tier Gold or Platinum; channel Chat', or 'Every ticket'."""
    labels = {"tiers": "tier", "teams": "team", "organizations": "organization",
              "channels": "channel", "types": "type", "tags": "tag"}  # fmt: skip
    parts = []
    for key in labels:  # one order whatever the JSON's (jsonb sorts its keys)
        values = conditions.get(key) or []
        if not values:
            continue
        words = [str(names.get(key, {}).get(value, value)) for value in values]
        parts.append(f"{labels.get(key, key)} {' or '.join(words)}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] if text else "Every ticket"


def _policy_page(
    request: AgentRequest,
    policy: SlaPolicy | None,
    values: dict[str, Any],
    errors: Errors,
    status: int = HTTPStatus.OK,
) -> HttpResponse:
    conditions = values.get("conditions") or {}
    rows = [
        {
            "priority": priority,
            "label": label,
            "cells": [
                {
                    "name": name,
                    "target": target_label,
                    "value": values["targets_text"].get(priority, {}).get(name, ""),
                    "errors": errors.get(f"targets.{priority}.{name}"),
                }
                for target_label, name in (
                    ("First reply", TARGET_FIELDS[SlaTarget.FIRST_REPLY]),
                    ("Next reply", TARGET_FIELDS[SlaTarget.NEXT_REPLY]),
                    ("Resolution", TARGET_FIELDS[SlaTarget.RESOLUTION]),
                )
            ],
            "errors": errors.get(f"targets.{priority}"),
        }
        for priority, label in Priority.choices
    ]
    choice_sets: list[tuple[str, str, list[tuple[Any, str]]]] = [
        ("tiers", "Customer tiers", [(t.slug, t.name) for t in Tier.objects.order_by("name")]),
        ("teams", "Teams", [(t.pk, t.name) for t in Team.objects.order_by("name")]),
        (
            "organizations",
            "Organizations",
            [(o.pk, o.name) for o in Organization.objects.order_by("name")[:MAX_CHOICES]],
        ),
        ("channels", "Channels", list(Channel.choices)),
        ("types", "Ticket types", list(TicketType.choices)),
    ]
    condition_fields = [
        {
            "key": key,
            "label": label,
            "choices": [(str(v), text) for v, text in choices],
            "chosen": {str(v) for v in conditions.get(key, [])},
            "errors": errors.under(f"conditions.{key}"),
        }
        for key, label, choices in choice_sets
    ]
    context = {
        "unplaced": errors.unplaced(
            "name",
            "description",
            "position",
            "calendar",
            "is_default",
            "conditions",
            "conditions.",
            "targets",
            "targets.",
        ),
        "policy": policy,
        "values": values,
        "errors": errors,
        "condition_fields": condition_fields,
        "tag_errors": errors.under("conditions.tags"),
        "condition_errors": errors.get("conditions"),
        "target_rows": rows,
        "target_errors": errors.get("targets"),
        "calendars": list(BusinessCalendar.objects.order_by("name")),
    }
    return render(request, "slas/policy_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@manager_required
def policy_edit(request: AgentRequest, pk: int | None = None) -> HttpResponse:
    policy = (
        get_object_or_404(SlaPolicy.objects.prefetch_related("targets"), pk=pk)
        if pk is not None
        else None
    )
    if request.method == "GET":
        return _policy_page(request, policy, policy_initial(policy), Errors())
    data, values, errors = policy_data(request.POST)
    if not errors:
        try:
            sla_services.save_policy(actor=request.user, policy=policy, data=data)
        except RuleBroken as broken:
            _broken(errors, broken)
        else:
            return redirect("slas:policies")
    return _policy_page(request, policy, values, errors, HTTPStatus.BAD_REQUEST)


# --- rules ----------------------------------------------------------------------------------
def rule_catalog() -> dict[str, Any]:
    """The rules catalog (slas.rules.catalog) with the rows its ids name, in the shape the
    editor (templates and static/js/sla.js) reads."""
    rows: dict[str, list[tuple[str, str]]] = {
        "team": [(str(t.pk), t.name) for t in Team.objects.order_by("name")],
        "agent": [(str(u.pk), u.display_name) for u in active_agents().order_by("username")],
        "tier": [(str(t.pk), t.name) for t in Tier.objects.order_by("name")],
        "organization": [
            (str(o.pk), o.name) for o in Organization.objects.order_by("name")[:MAX_CHOICES]
        ],
    }
    fields: dict[str, Any] = {}
    for spec in RULE_CONDITION_FIELDS:
        choices: list[tuple[str, str]]
        if spec.kind == "ids":
            choices = rows.get(spec.model, [])
        elif spec.kind == "boolean":
            choices = [("true", "Yes"), ("false", "No")]
        else:
            choices = [(str(k), str(v)) for k, v in spec.choices]
        fields[spec.key] = {
            "label": spec.label,
            "kind": spec.kind,
            "operators": [[op, _op_label(op)] for op in spec.operators],
            "valueless": sorted(VALUELESS & set(spec.operators)),
            "choices": [list(pair) for pair in choices],
            "multiple": spec.kind in ("choices", "ids"),
            "targets": spec.takes_target,
            "hint": _hint(spec.kind),
            "help": spec.help,
        }
    actions: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for action in RULE_ACTIONS:
        actions[action.key] = {
            "label": action.label,
            "params": [p.key for p in action.params],
            "help": action.help,
        }
        for param in action.params:
            choices = (
                rows.get(param.kind, [])
                if param.kind in ("team", "agent")
                else [(str(k), str(v)) for k, v in param.choices]
            )
            params.setdefault(
                param.key,
                {"label": param.label, "kind": param.kind, "choices": choices},
            )
    return {
        "fields": fields,
        "actions": actions,
        "all_params": list(params),
        "param_kinds": {key: spec["kind"] for key, spec in params.items()},
        "param_specs": params,
    }


def _op_label(op: str) -> str:
    return OPERATORS.get(op, op)


def _hint(kind: str) -> str:
    return {
        "minutes": "minutes, or 1h 30m",
        "percent": "percent, e.g. 75",
        "number": "a number",
        "tags": "tags, separated by commas",
        "words": "words or phrases, separated by commas",
    }.get(kind, "")


@require_GET
@manager_required
def rule_list(request: AgentRequest) -> HttpResponse:
    rules = EscalationRule.objects.annotate(firing_count=Count("firings")).order_by(
        "trigger", "position", "id"
    )
    return render(request, "slas/rule_list.html", {"rules": list(rules)})


def _rule_page(
    request: AgentRequest,
    rule: EscalationRule | None,
    values: dict[str, Any],
    errors: Errors,
    catalog: dict[str, Any],
    *,
    status: int = HTTPStatus.OK,
    dry_run: Any = None,
    partial: bool = False,
) -> HttpResponse:
    fields = catalog["fields"]
    first_field = next(iter(fields))
    for position, row in enumerate(values["cond_rows"]):
        row["errors"] = errors.under(f"conditions.{position}")
        row["spec"] = fields.get(row["field"]) or fields[first_field]
    for position, row in enumerate(values["action_rows"]):
        row["errors"] = errors.under(f"actions.{position}")
        row["param_fields"] = _param_fields(catalog, row["type"], row["params"])
    blank_condition = {
        "index": "__index__",
        "field": first_field,
        "op": "",
        "values": [],
        "text": "",
        "target": "any",
        "spec": fields[first_field],
        "errors": [],
    }
    first_action = next(iter(catalog["actions"]))
    blank_action = {"index": "__index__", "type": first_action, "errors": [],
                    "param_fields": _param_fields(catalog, first_action, {})}  # fmt: skip
    context = {
        "unplaced": errors.unplaced(
            "name", "trigger", "position", "conditions", "conditions.", "actions", "actions."
        ),
        "rule": rule,
        "values": values,
        "errors": errors,
        "catalog": catalog,
        "fields": catalog["fields"],
        "field_choices": [(key, spec["label"]) for key, spec in catalog["fields"].items()],
        "action_choices": [(key, spec["label"]) for key, spec in catalog["actions"].items()],
        "param_specs": catalog["param_specs"],
        "triggers": EscalationRule._meta.get_field("trigger").choices,
        "target_choices": [("any", "Any target"), *[(k, v) for k, v in TARGET_LABELS]],
        "dry_run": dry_run,
        "dry_run_tried": partial
        and request.resolver_match is not None
        and request.resolver_match.url_name == "rule-dry-run",
        "blank_condition": blank_condition,
        "blank_action": blank_action,
        "editor_catalog": {"fields": fields, "actions": catalog["actions"]},
        "condition_errors": errors.get("conditions"),
        "action_errors": errors.get("actions"),
    }
    template = "slas/_rule_form.html" if partial else "slas/rule_form.html"
    return render(request, template, context, status=status)


def _param_fields(catalog: dict[str, Any], kind: str, params: dict[str, str]) -> list[Any]:
    used = catalog["actions"].get(kind, {"params": []})["params"]
    return [
        {"key": key, **spec, "value": params.get(key, ""), "visible": key in used}
        for key, spec in catalog["param_specs"].items()
    ]


TARGET_LABELS = (("first_reply", "First reply"), ("next_reply", "Next reply"),
                 ("resolution", "Resolution"))  # fmt: skip


@require_http_methods(["GET", "POST"])
@manager_required
def rule_edit(request: AgentRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(EscalationRule, pk=pk) if pk is not None else None
    catalog = rule_catalog()
    if request.method == "GET":
        return _rule_page(request, rule, rule_initial(rule, catalog), Errors(), catalog)
    data, values = rule_data(request.POST, catalog)
    errors = Errors()
    try:
        save_rule(actor=request.user, rule=rule, data=data)
    except RuleBroken as broken:
        _broken(errors, broken)
        return _rule_page(
            request, rule, values, errors, catalog, status=HTTPStatus.BAD_REQUEST,
            partial=bool(request.htmx),
        )  # fmt: skip
    return redirect("slas:rules")


@require_POST
@manager_required
def rule_dry_run(request: AgentRequest) -> HttpResponse:
    """Which open tickets the rule on the page would fire on now, and why: nothing saved.
    Answers the form itself (htmx swaps it) with the result under it, or its errors."""
    rule_id = request.POST.get("rule", "")
    rule = EscalationRule.objects.filter(pk=rule_id).first() if rule_id.isdigit() else None
    catalog = rule_catalog()
    data, values = rule_data(request.POST, catalog)
    errors = Errors()
    result = None
    try:
        result = dry_run_rule(data=data)
    except RuleBroken as broken:
        _broken(errors, broken)
    return _rule_page(
        request, rule, values, errors, catalog,
        status=HTTPStatus.BAD_REQUEST if errors else HTTPStatus.OK,
        dry_run=result, partial=True,
    )  # fmt: skip


# --- the ledger on a ticket -----------------------------------------------------------------
@require_GET
@agent_required
def ticket_clocks(request: AgentRequest, pk: int) -> HttpResponse:
    """The SLA panel of the workspace: each clock with its ledger segments."""
    ticket = tickets_visible_to(request.user).filter(pk=pk).first()
    if ticket is None:
        raise Http404("No such ticket.")
    now = timezone.now()
    clocks = selectors.ticket_ledger(ticket, now=now)
    context = {"ticket": ticket, "clocks": clocks, "now": now}
    return render(request, "slas/_ticket_clocks.html", context)
