"""Forms of the queue page: they translate what was posted; the services decide."""

from typing import Any

from django import forms

from accounts.models import Team, User
from tickets.models import Priority, Status
from tickets.services.queue import (
    BULK_ACTIONS,
    MAX_BULK_TICKETS,
    QUEUE_COLUMNS,
    SAVED_VIEW_SORTS,
)

ACTION_LABELS = {
    "assign": "Assign",
    "team": "Move to team",
    "status": "Set status",
    "priority": "Set priority",
    "add_tag": "Add tag",
    "remove_tag": "Remove tag",
}


class TicketIdsField(forms.Field):
    def to_python(self, value: Any) -> list[int]:
        values = value if isinstance(value, list) else [value] if value else []
        ids = []
        for item in values:
            text = str(item).strip()
            if not text.isdigit() or len(text) > 19:
                raise forms.ValidationError("Select tickets from the list.")
            ids.append(int(text))
        if not ids:
            raise forms.ValidationError("Select at least one ticket.")
        if len(ids) > MAX_BULK_TICKETS:
            raise forms.ValidationError(f"Select at most {MAX_BULK_TICKETS} tickets.")
        return ids


class TicketIdsWidget(forms.SelectMultiple):
    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.getlist(name)


class BulkForm(forms.Form):
    ticket = TicketIdsField(widget=TicketIdsWidget)
    action = forms.ChoiceField(choices=[(a, ACTION_LABELS[a]) for a in BULK_ACTIONS])
    assignee = forms.CharField(required=False, max_length=20)  # "me", "none" or a user id
    team = forms.CharField(required=False, max_length=20)  # "none" or a team id
    status = forms.ChoiceField(required=False, choices=[("", "—"), *Status.choices])
    priority = forms.ChoiceField(required=False, choices=[("", "—"), *Priority.choices])
    tag = forms.CharField(required=False, max_length=50)

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        action = data.get("action")
        if action == "assign":
            data["value"] = self._assignee(data.get("assignee", ""))
        elif action == "team":
            data["value"] = self._team(data.get("team", ""))
        elif action in {"status", "priority"}:
            if not data.get(action):
                raise forms.ValidationError(f"Choose a {action}.")
            data["value"] = data[action]
        elif action in {"add_tag", "remove_tag"}:
            tag = (data.get("tag") or "").strip()
            if not tag:
                raise forms.ValidationError("Type a tag.")
            data["value"] = tag
        return data

    def _assignee(self, text: str) -> User | None:
        text = text.strip().lower()
        if text == "me":
            return self.actor
        if text == "none":
            return None
        user = User.objects.filter(pk=text).first() if text.isdigit() and len(text) < 19 else None
        if user is None:
            raise forms.ValidationError("Choose someone to assign to.")
        return user

    def _team(self, text: str) -> Team | None:
        text = text.strip().lower()
        if text == "none":
            return None
        team = Team.objects.filter(pk=text).first() if text.isdigit() and len(text) < 19 else None
        if team is None:
            raise forms.ValidationError("Choose a team.")
        return team

    def error_list(self) -> list[str]:
        return [str(message) for messages in self.errors.values() for message in messages]

    def describe(self) -> str:
        data = self.cleaned_data
        action, value = data["action"], data["value"]
        if action == "assign":
            return f"Assigned to {value.display_name}" if value else "Unassigned"
        if action == "team":
            return f"Moved to {value.name}" if value else "Removed from their team"
        if action == "status":
            return f"Status set to {Status(value).label}"
        if action == "priority":
            return f"Priority set to {Priority(value).label}"
        return f"Tag “{value}” {'added' if action == 'add_tag' else 'removed'}"


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80, label="Name")
    sort = forms.ChoiceField(choices=[(s, s) for s in SAVED_VIEW_SORTS], required=False)
    columns = forms.MultipleChoiceField(
        choices=[(c, c) for c in QUEUE_COLUMNS], required=False, widget=forms.CheckboxSelectMultiple
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(), required=False, empty_label="Just me", label="Visible to"
    )

    def __init__(self, *args: Any, actor: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor

    def clean_sort(self) -> str:
        return self.cleaned_data.get("sort") or "updated"
