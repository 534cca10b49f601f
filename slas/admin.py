"""The admin for business calendars and SLA policies: every save goes through slas.services
(validation, versions, snapshots); a broken rule is shown on its field. Versions, targets and
clocks are read-only here: history is never edited."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts.selectors import signed_in
from core.admin import HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, saved_through
from slas.models import (
    BusinessCalendar,
    CalendarVersion,
    ClockSegment,
    PolicyTarget,
    PolicyVersion,
    SlaPolicy,
    TicketClock,
)
from slas.services import save_calendar, save_policy, targets_of
from slas.services.calendars import CALENDAR_FIELDS
from slas.services.policies import POLICY_FIELDS


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CalendarVersionInline(ReadOnlyInline):
    model = CalendarVersion
    fields = readonly_fields = ("version", "spec", "created_by", "created_at")


class PolicyVersionInline(ReadOnlyInline):
    model = PolicyVersion
    fields = readonly_fields = ("version", "snapshot", "created_by", "created_at")


class PolicyTargetInline(ReadOnlyInline):
    model = PolicyTarget
    fields = readonly_fields = (
        "priority",
        "first_reply_minutes",
        "next_reply_minutes",
        "resolution_minutes",
    )
    verbose_name_plural = "Targets (edit them as JSON above)"


def _rule_field(field: str) -> str:
    """A field like "hours.mon.1" is shown on hours; "conditions.tiers" on conditions."""
    return field.split(".", 1)[0]


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    list_display = ["name", "timezone", "always_open", "holiday_country", "version", "is_active"]
    list_filter = ["always_open", "is_active"]
    search_fields = ["name"]
    fields = [
        "name",
        "timezone",
        "hours",
        "holidays",
        "holiday_country",
        "holiday_subdivision",
        "always_open",
        "is_active",
        "version",
    ]
    readonly_fields = ["version"]
    inlines = [CalendarVersionInline]

    def rule_field(self, rule_field: str, *, adding: bool) -> str:
        return _rule_field(rule_field)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # clocks and their ledger name it; archive it instead

    def save_model(
        self, request: HttpRequest, obj: BusinessCalendar, form: forms.ModelForm, change: bool
    ) -> None:
        data = {name: form.cleaned_data[name] for name in CALENDAR_FIELDS if name in form.fields}
        saved = save_calendar(
            actor=signed_in(request.user), calendar=obj if change else None, data=data
        )
        saved_through(obj, saved)


class PolicyForm(forms.ModelForm):
    targets = forms.JSONField(
        help_text='Business minutes per priority: {"urgent": {"first_reply_minutes": 30, '
        '"next_reply_minutes": 60, "resolution_minutes": 480}, ...}'
    )

    class Meta:
        model = SlaPolicy
        fields = [
            "name",
            "description",
            "position",
            "is_default",
            "is_active",
            "conditions",
            "calendar",
            "pause_on_hold",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["targets"].initial = targets_of(self.instance)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    form = PolicyForm
    list_display = ["name", "position", "is_default", "is_active", "calendar", "version"]
    list_filter = ["is_default", "is_active"]
    list_select_related = ["calendar"]
    search_fields = ["name"]
    readonly_fields = ["version"]
    inlines = [PolicyTargetInline, PolicyVersionInline]

    def rule_field(self, rule_field: str, *, adding: bool) -> str:
        return _rule_field(rule_field)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # clocks name it; archive it instead

    def save_model(
        self, request: HttpRequest, obj: SlaPolicy, form: forms.ModelForm, change: bool
    ) -> None:
        data = {name: form.cleaned_data[name] for name in POLICY_FIELDS if name in form.fields}
        saved = save_policy(
            actor=signed_in(request.user), policy=obj if change else None, data=data
        )
        saved_through(obj, saved)


class ClockSegmentInline(ReadOnlyInline):
    model = ClockSegment
    fields = readonly_fields = (
        "kind",
        "starts_at",
        "ends_at",
        "business_minutes",
        "reason",
        "policy_version",
        "calendar_version",
    )


@admin.register(TicketClock)
class TicketClockAdmin(HostileQueryIsNoMatch, admin.ModelAdmin):
    """The clocks and their ledger, to read (written only by the clock engine)."""

    list_display = ["ticket", "target", "sequence", "state", "due_at", "stopped_at", "policy"]
    list_filter = ["target", "state"]
    list_select_related = ["ticket", "policy"]
    show_full_result_count = False
    inlines = [ClockSegmentInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in TicketClock._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.method in ("GET", "HEAD")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
