"""Escalation rules in the admin, through the services: a save is `save_rule` (the same
validation as the API; a refusal is a form error on its field), a delete is `delete_rule`.
Firings and alarms are read-only records."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, saved_through
from slas.models import EscalationRule, RuleAlarm, RuleFiring
from slas.services import delete_rule, save_rule

RULE_FIELDS = ("name", "description", "trigger", "position", "is_active", "conditions", "actions")


@admin.register(EscalationRule)
class EscalationRuleAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    list_display = ("name", "trigger", "position", "is_active", "version", "updated_at")
    list_filter = ("trigger", "is_active")
    search_fields = ("name", "description")
    ordering = ("trigger", "position", "id")
    fields = (*RULE_FIELDS, "version", "created_by", "created_at", "updated_at")
    readonly_fields = ("version", "created_by", "created_at", "updated_at")

    def rule_field(self, rule_field: str, *, adding: bool) -> str:
        # "conditions.2.value" is shown on the conditions box (the message names the place).
        return rule_field.split(".")[0]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        for name in ("conditions", "actions"):
            if name in form.base_fields:
                form.base_fields[name].help_text = "JSON list; see docs/escalation.md."
        return form

    def save_model(
        self, request: HttpRequest, obj: EscalationRule, form: Any, change: bool
    ) -> None:
        data = {name: form.cleaned_data[name] for name in RULE_FIELDS if name in form.cleaned_data}
        current = EscalationRule.objects.get(pk=obj.pk) if change else None
        saved = save_rule(actor=request.user, rule=current, data=data)  # type: ignore[arg-type]
        saved_through(obj, saved)

    def delete_model(self, request: HttpRequest, obj: EscalationRule) -> None:
        delete_rule(actor=request.user, rule=obj)  # type: ignore[arg-type]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A rule that fired keeps its record: deactivate it instead.
        if obj is not None and obj.firings.exists():
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[EscalationRule]) -> None:
        for rule in queryset:
            delete_rule(actor=request.user, rule=rule)  # type: ignore[arg-type]


class ReadOnly(HostileQueryIsNoMatch, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RuleFiring)
class RuleFiringAdmin(ReadOnly):
    list_display = ("rule", "ticket", "occasion", "outcome", "fired_at")
    list_filter = ("outcome",)
    list_select_related = ("rule", "ticket")
    raw_id_fields = ("ticket",)
    search_fields = ("rule__name", "occasion")


@admin.register(RuleAlarm)
class RuleAlarmAdmin(ReadOnly):
    list_display = ("rule", "ticket", "occasion", "due_at")
    list_select_related = ("rule", "ticket")
    raw_id_fields = ("ticket",)
    ordering = ("due_at",)
