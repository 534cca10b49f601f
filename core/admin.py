"""What every admin page that writes through a service shares: a broken rule is a form error.

The admin saves inside one transaction (`ModelAdmin.changeform_view`). When a service raises
`RuleBroken` from `save_model`, that transaction rolls back, so nothing of the save is kept, and
the same POST is shown again as a form whose `clean()` reports the rule on its field.
"""

from __future__ import annotations  # ModelForm[...] is a type only, not subscriptable at runtime

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django import forms
from django.apps import AppConfig
from django.conf import settings
from django.contrib import admin
from django.core import checks
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from core.errors import RuleBroken

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object

# Where changeform_view leaves the broken rule for get_form's second pass.
BROKEN_RULE = "broken_rule"


class ShowsBrokenRulesAsFormErrors(_ModelAdmin):
    """Mix into a ModelAdmin whose `save_model` calls services."""

    def rule_field(self, rule_field: str, *, adding: bool) -> str:
        """The form field a service's field name is shown on (override where they differ)."""
        return rule_field

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except RuleBroken as broken:
            if request.method != "POST":
                raise
            setattr(request, BROKEN_RULE, broken)  # read by get_form on the second pass
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        form_class = super().get_form(request, obj, change, **kwargs)
        broken: RuleBroken | None = getattr(request, BROKEN_RULE, None)
        if broken is None:
            return form_class
        field = self.rule_field(broken.field, adding=obj is None)
        message = broken.message

        def clean(form: forms.ModelForm[Any]) -> dict[str, Any] | None:
            cleaned = form_class.clean(form)
            form.add_error(field if field in form.fields else None, message)
            return cleaned

        # The same form, whose clean() also reports the rule the service broke.
        return type("ShowsTheBrokenRule", (form_class,), {"clean": clean})


def saved_through(obj: Model, saved: Model) -> None:
    """After a service wrote the row, the admin goes on with the object its form built (links,
    the log entry): make that object the row the service wrote."""
    obj.pk = saved.pk
    obj.refresh_from_db()
    obj._state.adding = False


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several uploads in one field (Django's documented recipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class HostileQueryIsNoMatch:
    """Mix into every ModelAdmin, first: a query string carrying a NUL character (`?status=%00`)
    lists nothing instead of reaching the database, which PostgreSQL refuses with an error (a
    500). Other malformed values are each filter's business: "no match" or the admin's own
    message. Forgetting it fails the system check core.E001 (below)."""

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        query = request.GET.lists()
        if any("\x00" in key or any("\x00" in value for value in values) for key, values in query):
            return queryset.none()
        return queryset


def admins_letting_hostile_queries_through(
    site: admin.AdminSite, app_configs: Iterable[AppConfig] | None = None
) -> list[checks.CheckMessage]:
    """One error per ModelAdmin registered on `site` for a model of the project's own apps (a
    package at the project's root, not a library) that does not run `HostileQueryIsNoMatch`
    before Django's own `get_queryset`: missing, or mixed in after `admin.ModelAdmin`."""
    root = Path(settings.BASE_DIR).resolve()
    labels = None if app_configs is None else {config.label for config in app_configs}
    errors: list[checks.CheckMessage] = []
    for model, model_admin in site._registry.items():
        app = model._meta.app_config
        if app is None or Path(app.path).resolve().parent != root:
            continue  # a library's model: its admin is the library's business
        if labels is not None and app.label not in labels:
            continue
        if _runs_first(type(model_admin).__mro__):
            continue
        name = f"{type(model_admin).__module__}.{type(model_admin).__qualname__}"
        errors.append(
            checks.Error(
                f"{name} (the admin of {model._meta.label}) does not mix in HostileQueryIsNoMatch "
                "before admin.ModelAdmin: a NUL in its list's query string would reach the "
                "database (a 500 on PostgreSQL).",
                hint="Make core.admin.HostileQueryIsNoMatch its first base class.",
                obj=type(model_admin),
                id="core.E001",
            )
        )
    return errors


def _runs_first(mro: Sequence[type]) -> bool:
    # The mixin works only if its get_queryset is reached before Django's, which does not call on.
    return HostileQueryIsNoMatch in mro and mro.index(HostileQueryIsNoMatch) < mro.index(
        admin.options.BaseModelAdmin
    )


# Registered here, where the mixin lives: every app's admin module imports this one, so the check
# is in place once the admin has autodiscovered them (before `check`, `migrate`, `runserver` and
# `makemigrations --check` run the checks).
@checks.register(checks.Tags.admin)
def every_admin_makes_hostile_queries_no_match(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    return admins_letting_hostile_queries_through(admin.site, app_configs)
