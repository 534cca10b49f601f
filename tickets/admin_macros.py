"""Macros in the Django admin, written through tickets.macros (the placeholder rules hold here
too: an unknown placeholder is a form error on the body). Deleting retires."""

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from core.admin import HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors
from tickets.macros import create_macro, retire_macro, update_macro
from tickets.models import Macro


def _staff(request: HttpRequest) -> User:
    # The admin site only lets signed-in staff this far.
    return cast(User, request.user)


EDITABLE = ["title", "body", "set_status", "set_priority", "set_team", "add_tags", "is_active"]


class MacroForm(forms.ModelForm):
    add_tags = forms.CharField(required=False, help_text="Tag names to add, separated by commas.")

    class Meta:
        model = Macro
        fields = [*EDITABLE, "owner"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["add_tags"] = ", ".join(self.instance.add_tags or [])

    def clean_add_tags(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["add_tags"].split(",") if name.strip()]


@admin.register(Macro)
class MacroAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    form = MacroForm
    list_display = ["title", "shared", "set_status", "set_priority", "set_team", "is_active"]
    list_filter = ["is_active", "set_status"]
    search_fields = ["title", "body"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    @admin.display(boolean=True)
    def shared(self, macro: Macro) -> bool:
        return macro.owner_id is None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Macro]:
        return super().get_queryset(request).select_related("set_team", "owner")

    def save_model(self, request: HttpRequest, obj: Macro, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in EDITABLE if name in form.cleaned_data}
        data["owner"] = form.cleaned_data.get("owner")
        if change:
            saved = update_macro(macro=obj, actor=_staff(request), changes=data)
        else:
            saved = create_macro(actor=_staff(request), **data)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Macro) -> None:
        retire_macro(macro=obj, actor=_staff(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Macro]) -> None:
        for macro in queryset:
            retire_macro(macro=macro, actor=_staff(request))
