"""Customers, organizations, tiers and tags in the Django admin. Customers and organizations are
written by `customers.services`, as from the API, so a duplicate email in another case is a form
error here too, and every change lands in the audit trail. None of them is deleted here: a
deleted organization or tag would silently drop off every customer and ticket that had it,
with no trace."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from accounts.admin import audit_trail_link
from accounts.selectors import signed_in
from core.admin import HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, saved_through
from customers.models import Customer, Organization, Tag, Tier
from customers.services import (
    CUSTOMER_FIELDS,
    ORGANIZATION_FIELDS,
    create_customer,
    create_organization,
    update_customer,
    update_organization,
)

EMAIL_TAKEN = str(Customer._meta.constraints[0].violation_error_message)


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = [
            "name",
            "email",
            "phone",
            "external_id",
            "organization",
            "tier",
            "lifetime_value",
            "tags",
            "notes",
        ]

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # Django's own hook; the stubs omit it
        # Django checks the case-insensitive unique constraint (an expression) for the whole
        # form; it is about the email, so show it there.
        errors = self.errors.get(NON_FIELD_ERRORS)
        if errors and EMAIL_TAKEN in errors:
            others = [error for error in errors.as_data() if EMAIL_TAKEN not in error.messages]
            if others:
                self.errors[NON_FIELD_ERRORS] = self.error_class(others, error_class="nonfield")
            else:
                del self.errors[NON_FIELD_ERRORS]
            self.add_error("email", EMAIL_TAKEN)


@admin.register(Customer)
class CustomerAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    form = CustomerForm
    list_display = ["name", "email", "tier", "organization", "lifetime_value", "has_login"]
    list_filter = ["tier", ("user", admin.EmptyFieldListFilter)]
    list_select_related = ["tier", "organization"]
    search_fields = ["name", "email", "external_id", "phone"]
    show_full_result_count = False
    autocomplete_fields = ["organization", "tags"]
    readonly_fields = ["user", "created_at", "updated_at", "audit_trail"]
    fieldsets = [
        (None, {"fields": ["name", "email", "phone", "user"]}),
        ("Shop", {"fields": ["external_id", "organization", "tier", "lifetime_value"]}),
        ("Notes", {"fields": ["tags", "notes"]}),
        ("Timestamps", {"fields": ["created_at", "updated_at", "audit_trail"]}),
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # their tickets and audit trail keep pointing at them

    @admin.display(description="History")
    def audit_trail(self, customer: Customer) -> SafeString | str:
        return audit_trail_link(customer)

    @admin.display(description="Login", boolean=True, ordering="user")
    def has_login(self, customer: Customer) -> bool:
        return customer.user_id is not None

    def save_model(self, request: HttpRequest, obj: Customer, form: forms.ModelForm, change: bool):
        data = form.cleaned_data
        tags = [tag.name for tag in data.get("tags") or []]
        if not change:
            fields = {name: data[name] for name in CUSTOMER_FIELDS - {"tags"} if name in data}
            saved_through(obj, create_customer(actor=signed_in(request.user), tags=tags, **fields))
            return
        changes = {name: data[name] for name in form.changed_data if name in CUSTOMER_FIELDS}
        if "tags" in changes:
            changes["tags"] = tags
        if changes:
            update_customer(customer=obj, actor=signed_in(request.user), changes=changes)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ):
        """Tags were set by the service; the form's save_m2m would write them directly."""


@admin.register(Organization)
class OrganizationAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    list_display = ["name", "domain", "created_at"]
    search_fields = ["name", "domain"]
    fields = ["name", "domain", "notes", "created_at", "audit_trail"]
    readonly_fields = ["created_at", "audit_trail"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its customers would lose it without an audit entry

    @admin.display(description="History")
    def audit_trail(self, organization: Organization) -> SafeString | str:
        return audit_trail_link(organization)

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool):
        data = form.cleaned_data
        if not change:
            fields = {name: data[name] for name in ORGANIZATION_FIELDS if name in data}
            saved_through(obj, create_organization(actor=signed_in(request.user), **fields))
            return
        changes = {name: data[name] for name in form.changed_data if name in ORGANIZATION_FIELDS}
        if changes:
            update_organization(organization=obj, actor=signed_in(request.user), changes=changes)


@admin.register(Tier)
class TierAdmin(HostileQueryIsNoMatch, admin.ModelAdmin):
    """Loyalty tiers have no rules of their own yet (SLA targets attach to them later)."""

    list_display = ["name", "slug", "rank"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Tag)
class TagAdmin(HostileQueryIsNoMatch, admin.ModelAdmin):
    """Tags are made by naming them on a ticket or customer (which applies the naming rule);
    they are listed here for the tags fields' autocomplete. They are taken off a ticket or a
    customer there (through the services, which record it), never deleted here."""

    list_display = ["name"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).order_by("name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a rename would change what old audit events say

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # would drop it from tickets and customers with no event
