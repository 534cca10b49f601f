"""Forms of the ticket workspace: they translate what the page posts; rules live in services."""

from typing import Any

from django import forms

from accounts.models import Team, User
from core.admin import MultipleFileField
from tickets.models import Priority, Status, TicketType

CONTROL_FIELDS = ("status", "priority", "type", "assignee", "team", "tags", "parent")


class ReplyForm(forms.Form):
    body = forms.CharField(required=False, widget=forms.Textarea, strip=False)
    is_internal = forms.BooleanField(required=False)
    status_after = forms.ChoiceField(required=False, choices=[("", "—"), *Status.choices])
    attachments = MultipleFileField(required=False)
    seen_event = forms.IntegerField(required=False, min_value=0)
    acknowledged_event = forms.IntegerField(required=False, min_value=0)


class DraftForm(forms.Form):
    body = forms.CharField(required=False, strip=False, max_length=60_000)
    is_internal = forms.BooleanField(required=False)


def agents_to_assign() -> Any:
    return User.objects.filter(agent_profile__isnull=False, is_active=True).order_by(
        "first_name", "username"
    )


class ControlForm(forms.Form):
    """One control's new value; which one is in the URL."""

    status = forms.ChoiceField(choices=Status.choices, required=False)
    priority = forms.ChoiceField(choices=Priority.choices, required=False)
    type = forms.ChoiceField(choices=TicketType.choices, required=False)
    assignee = forms.ModelChoiceField(queryset=agents_to_assign(), required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    tags = forms.CharField(required=False, max_length=2000)
    parent = forms.CharField(required=False, max_length=20)
    seen_event = forms.IntegerField(required=False, min_value=0)
    acknowledged_event = forms.IntegerField(required=False, min_value=0)

    def __init__(self, *args: Any, field: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.control = field
        if field in {"status", "priority", "type"}:
            self.fields[field].required = True
