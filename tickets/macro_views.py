"""Macro management pages for managers (`/macros/`): list, create, edit, retire. Writes go
through tickets.macros; a broken rule is an error next to its field."""

from http import HTTPStatus
from typing import Any

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import AgentRequest, manager_required
from accounts.models import Team
from core.errors import RuleBroken
from tickets.macros import (
    PLACEHOLDERS,
    create_macro,
    macros_visible_to,
    retire_macro,
    update_macro,
)
from tickets.models import Macro, Priority, Status


class MacroForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), strip=False)
    set_status = forms.ChoiceField(
        required=False, choices=[("", "Leave as it is"), *Status.choices], label="Set status"
    )
    set_priority = forms.ChoiceField(
        required=False, choices=[("", "Leave as it is"), *Priority.choices], label="Set priority"
    )
    set_team = forms.ModelChoiceField(
        required=False, queryset=Team.objects.all(), label="Move to team",
        empty_label="Leave as it is",
    )  # fmt: skip
    add_tags = forms.CharField(required=False, label="Add tags", max_length=1000,
                               help_text="Separated by commas.")  # fmt: skip
    personal = forms.BooleanField(
        required=False, label="Personal (only I see it)", help_text="Otherwise shared."
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def changes(self, actor: Any) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["add_tags"] = [n.strip() for n in data["add_tags"].split(",") if n.strip()]
        data["owner"] = actor if data.pop("personal") else None
        return data


def _initial(macro: Macro) -> dict[str, Any]:
    return {
        "title": macro.title,
        "body": macro.body,
        "set_status": macro.set_status,
        "set_priority": macro.set_priority,
        "set_team": macro.set_team_id,
        "add_tags": ", ".join(macro.add_tags or []),
        "personal": macro.owner_id is not None,
        "is_active": macro.is_active,
    }


def _page(request: AgentRequest, form: MacroForm, macro: Macro | None, status: int) -> HttpResponse:
    placeholders = [f"{{{{ {name} }}}}" for name in PLACEHOLDERS]
    context = {"form": form, "macro": macro, "placeholders": placeholders}
    return render(request, "tickets/macro_form.html", context, status=status)


def _save(request: AgentRequest, macro: Macro | None) -> HttpResponse:
    form = MacroForm(request.POST, initial=_initial(macro) if macro else None)
    if form.is_valid():
        try:
            if macro is None:
                create_macro(actor=request.user, **form.changes(request.user))
            else:
                update_macro(macro=macro, actor=request.user, changes=form.changes(request.user))
        except RuleBroken as broken:
            field = {"owner": "personal"}.get(broken.field, broken.field)
            form.add_error(field if field in form.fields else None, broken.message)
        else:
            return redirect("tickets:macros")
    return _page(request, form, macro, HTTPStatus.BAD_REQUEST)


@manager_required
def macro_list(request: AgentRequest) -> HttpResponse:
    macros = list(macros_visible_to(request.user).select_related("owner"))
    return render(request, "tickets/macros.html", {"macros": macros})


@manager_required
def macro_create(request: AgentRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    return _page(request, MacroForm(), None, HTTPStatus.OK)


@manager_required
def macro_edit(request: AgentRequest, pk: int) -> HttpResponse:
    macro = macros_visible_to(request.user).filter(pk=pk).first()
    if macro is None:
        raise Http404("No such macro.")
    if request.method == "POST":
        return _save(request, macro)
    return _page(request, MacroForm(initial=_initial(macro)), macro, HTTPStatus.OK)


@require_POST
@manager_required
def macro_retire(request: AgentRequest, pk: int) -> HttpResponse:
    macro = macros_visible_to(request.user).filter(pk=pk).first()
    if macro is None:
        raise Http404("No such macro.")
    retire_macro(macro=macro, actor=request.user)
    return redirect("tickets:macros")
