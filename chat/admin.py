"""The admin's view of chat sites (managers usually use /chat/sites/); writes go through
chat.services.sites, like the page. The offer log is read-only: routing writes it."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts.selectors import signed_in
from chat.models import ChatOffer, Site
from chat.services.sites import SITE_FIELDS, create_site, update_site
from core.admin import HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, saved_through


@admin.register(Site)
class SiteAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    list_display = ["name", "team", "calendar", "offer_timeout_seconds", "is_active"]
    list_filter = ["is_active", "require_identity", "team"]
    search_fields = ["name", "key"]
    readonly_fields = ["key", "created_at"]
    fields = [
        "name",
        "key",
        "allowed_origins",
        "team",
        "calendar",
        "offer_timeout_seconds",
        "missed_after_seconds",
        "prechat_fields",
        "greeting",
        "colour",
        "require_identity",
        "is_active",
        "identity_secret",
        "created_at",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The secret is rotated (a new random value) from /chat/sites/, never typed in.
        return [*self.readonly_fields, "identity_secret"]

    def save_model(self, request: HttpRequest, obj: Site, form: forms.ModelForm, change: bool):
        data = form.cleaned_data
        actor = signed_in(request.user)
        if not change:
            fields = {name: data[name] for name in SITE_FIELDS if name in data}
            saved_through(obj, create_site(actor=actor, **fields))
            return
        changes = {name: data[name] for name in form.changed_data if name in SITE_FIELDS}
        if changes:
            update_site(site=obj, actor=actor, changes=changes)


@admin.register(ChatOffer)
class ChatOfferAdmin(HostileQueryIsNoMatch, admin.ModelAdmin):
    list_display = ["conversation", "agent", "offered_at", "outcome", "answered_at"]
    list_filter = ["outcome"]
    list_select_related = ["agent"]
    date_hierarchy = "offered_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
