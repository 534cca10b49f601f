"""Users, agent profiles, teams and the audit trail in the Django admin. Every write goes through
`accounts.services`, as from the API: a user's agent profile (role, teams, time zone,
availability, chat capacity) is edited inline on the user, and a broken rule is a form error
there. Nothing here is deleted: logins are deactivated and teams archived (deleting either
would silently take tickets off their assignee or out of their queue and leave no trace)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from accounts.models import AgentProfile, AuditEntry, Team, User
from accounts.selectors import active_agents, signed_in
from accounts.services import (
    PROFILE_FIELDS,
    create_team,
    make_agent,
    set_team_active,
    set_user_active,
    update_agent_profile,
    update_team,
)
from core.admin import HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, saved_through
from core.errors import RuleBroken

# Autocomplete fields that only take agents (the user search then offers agents only).
AGENT_ONLY_FIELDS = {"assignee", "manager"}


def audit_trail_link(obj: Any) -> SafeString | str:
    """A link to this row's history in the audit trail (which managers may read)."""
    if obj is None or obj.pk is None:
        return "—"
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    query = urlencode({"target_type__id__exact": content_type.pk, "target_id": obj.pk})
    url = f"{reverse('admin:accounts_auditentry_changelist')}?{query}"
    return format_html('<a href="{}">{}</a>', url, "Who changed what, and when")


class AgentProfileForm(forms.ModelForm):
    """The profile's fields as the admin edits them; the rules are `accounts.services`'."""

    class Meta:
        model = AgentProfile
        fields = ["role", "teams", "timezone", "availability", "chat_capacity"]
        widgets = {"teams": forms.CheckboxSelectMultiple}

    def has_changed(self) -> bool:
        # The inline shows no empty profile (extra = 0): a new one is there only because the
        # admin added it, so it is saved even with every default left as it is.
        return self.instance.pk is None or super().has_changed()


def profile_changes(form: forms.ModelForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {name: data[name] for name in form.changed_data if name in PROFILE_FIELDS}


def save_profile_through_services(form: forms.ModelForm, user: User, actor: User) -> None:
    if form.instance.pk is None:
        fields = {name: form.cleaned_data[name] for name in PROFILE_FIELDS}
        form.instance = make_agent(user=user, actor=actor, **fields)
        return
    changes = profile_changes(form)
    if changes:
        form.instance = update_agent_profile(agent=user, actor=actor, changes=changes)


def shows_the_broken_rule(request: HttpRequest, form_class: type[forms.ModelForm]) -> Any:
    """The profile form again, with the rule a service refused on its field (see
    core.admin.ShowsBrokenRulesAsFormErrors, which does this for the page's main form)."""
    found: RuleBroken | None = getattr(request, "broken_rule", None)
    if found is None or found.field not in PROFILE_FIELDS:
        return form_class
    broken = found  # narrowed, for the class below

    class ShowsTheBrokenRule(form_class):  # type: ignore[valid-type,misc]
        def clean(self) -> dict[str, Any]:
            cleaned = super().clean()
            self.add_error(broken.field, broken.message)
            return cleaned

    return ShowsTheBrokenRule


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    form = AgentProfileForm
    can_delete = False  # deactivate the login instead: its name stays on its tickets
    extra = 0
    max_num = 1
    verbose_name = "agent profile"
    verbose_name_plural = "agent profile (only for people who work tickets)"

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = shows_the_broken_rule(request, formset.form)
        return formset


class DjangoUserAdminTakingChange(DjangoUserAdmin):
    """Django's UserAdmin.get_form takes no `change`; ModelAdmin's (and the mixins') do."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        return super().get_form(request, obj, change=change, **kwargs)


@admin.register(User)
class UserAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, DjangoUserAdminTakingChange):
    inlines = [AgentProfileInline]
    list_display = ["username", "email", "first_name", "last_name", "role", "is_staff", "is_active"]
    list_filter = ["agent_profile__role", "is_staff", "is_superuser", "is_active"]
    list_select_related = ["agent_profile"]
    search_fields = ["username", "email", "first_name", "last_name"]
    show_full_result_count = False
    actions = ["deactivate_selected", "reactivate_selected"]

    @admin.display(description="Role", ordering="agent_profile__role")
    def role(self, user: User) -> str:
        profile = getattr(user, "agent_profile", None)
        return profile.get_role_display() if profile else "—"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead (see set_user_active)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        # The assignee and team-manager pickers offer agents, not every customer login.
        if request.GET.get("field_name") in AGENT_ONLY_FIELDS:
            queryset = queryset.filter(pk__in=active_agents())
        return super().get_search_results(request, queryset, search_term)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        broken: RuleBroken | None = getattr(request, "broken_rule", None)
        if broken is not None and broken.field in PROFILE_FIELDS:
            # Shown on the profile inline (AgentProfileInline.get_formset), not here.
            return DjangoUserAdminTakingChange.get_form(self, request, obj, change, **kwargs)
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool):
        activation = change and "is_active" in form.changed_data
        wanted = obj.is_active
        if activation:
            obj.is_active = form.initial["is_active"]  # the service makes (and records) it
        super().save_model(request, obj, form, change)
        if activation:
            set_user_active(user=obj, active=wanted, actor=signed_in(request.user))
            obj.is_active = wanted

    def save_formset(
        self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool
    ) -> None:
        if formset.model is not AgentProfile:
            return super().save_formset(request, form, formset, change)
        # What the admin's change message reads (ModelFormSet.save would set these).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for profile_form in formset.forms:
            if not profile_form.has_changed():
                continue
            adding = profile_form.instance.pk is None
            save_profile_through_services(profile_form, formset.instance, signed_in(request.user))
            if adding:
                formset.new_objects.append(profile_form.instance)
            else:
                formset.changed_objects.append((profile_form.instance, profile_form.changed_data))
        return None

    def _set_active(self, request: HttpRequest, users: QuerySet[User], active: bool) -> None:
        done = 0
        for user in users:
            try:
                set_user_active(user=user, active=active, actor=signed_in(request.user))
                done += 1
            except RuleBroken as broken:
                self.message_user(request, f"{user.username}: {broken.message}", messages.ERROR)
        if active:
            self.message_user(request, f"Reactivated {done} user(s).", messages.SUCCESS)
            return
        self.message_user(
            request,
            f"Deactivated {done} user(s). Their open tickets stay assigned to them: the ticket "
            "list's assignee filter finds them, and its action returns them to the queue.",
            messages.SUCCESS,
        )

    @admin.action(description="Deactivate the selected users (they can no longer sign in)")
    def deactivate_selected(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(description="Reactivate the selected users")
    def reactivate_selected(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=True)


@admin.register(AgentProfile)
class AgentProfileAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    """Every agent at a glance; edit one here or on its user's page."""

    form = AgentProfileForm
    list_display = ["user", "role", "availability", "chat_capacity", "timezone"]
    list_filter = ["role", "availability", "teams"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]

    fields = ["user", *AgentProfileForm.Meta.fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user"] if obj is not None else []

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["fields"] = ["user", *AgentProfileForm.Meta.fields]
        return super().get_form(request, obj, change, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate the login instead

    def save_model(
        self, request: HttpRequest, obj: AgentProfile, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            save_profile_through_services(form, obj.user, signed_in(request.user))
            return
        fields = {name: form.cleaned_data[name] for name in PROFILE_FIELDS}
        profile = make_agent(
            user=form.cleaned_data["user"], actor=signed_in(request.user), **fields
        )
        # The admin goes on with the object its form built (links, log entry).
        obj.pk = profile.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        """Teams were set by the service; the form's save_m2m would write them directly."""


class TeamForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        queryset=active_agents().order_by("username"),
        required=False,
        widget=FilteredSelectMultiple("members", is_stacked=False),
    )

    class Meta:
        model = Team
        fields = ["name", "description", "manager"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["members"].initial = User.objects.filter(agent_profile__teams=self.instance)


@admin.register(Team)
class TeamAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    form = TeamForm
    list_display = ["name", "manager", "is_active", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["manager"]
    search_fields = ["name"]
    autocomplete_fields = ["manager"]
    fields = ["name", "description", "manager", "members", "is_active", "audit_trail"]
    readonly_fields = ["is_active", "audit_trail"]
    actions = ["archive_selected", "restore_selected"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # archive instead: a deleted team would empty its tickets' team silently

    @admin.display(description="History")
    def audit_trail(self, team: Team) -> SafeString | str:
        return audit_trail_link(team)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        # A picker on another page (a ticket's team) offers only teams that take tickets.
        if request.GET.get("field_name"):
            queryset = queryset.filter(is_active=True)
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request: HttpRequest, obj: Team, form: forms.ModelForm, change: bool):
        data = form.cleaned_data
        if not change:
            team = create_team(
                name=data["name"],
                actor=signed_in(request.user),
                description=data.get("description", ""),
                manager=data.get("manager"),
                members=data.get("members") or [],
            )
            saved_through(obj, team)
            return
        names = {"name", "description", "manager", "members"}
        changes = {name: data[name] for name in form.changed_data if name in names}
        if changes:
            update_team(team=obj, actor=signed_in(request.user), changes=changes)

    def _set_active(self, request: HttpRequest, teams: QuerySet[Team], active: bool) -> None:
        for team in teams:
            set_team_active(team=team, active=active, actor=signed_in(request.user))
        verb = "Restored" if active else "Archived"
        self.message_user(request, f"{verb} {len(teams)} team(s).", messages.SUCCESS)

    @admin.action(description="Archive the selected teams (they keep their tickets)")
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(description="Restore the selected teams")
    def restore_selected(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        self._set_active(request, queryset, active=True)


def may_read_audit(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and (user.is_superuser or user.is_manager))


@admin.register(AuditEntry)
class AuditEntryAdmin(HostileQueryIsNoMatch, admin.ModelAdmin):
    """Who changed which person, team, customer or organization: managers read it here; only
    the services write it."""

    list_display = ["at", "actor", "action", "target_type", "target_label", "changed_fields"]
    list_filter = ["action", "target_type"]
    list_select_related = ["actor", "target_type"]
    search_fields = ["target_label", "actor__username"]
    show_full_result_count = False
    fields = readonly_fields = (
        "at",
        "actor",
        "action",
        "target_type",
        "target_id",
        "target_label",
        "change_table",
    )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_read_audit(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_read_audit(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Fields")
    def changed_fields(self, entry: AuditEntry) -> str:
        return ", ".join(entry.changes)

    @admin.display(description="Changes")
    def change_table(self, entry: AuditEntry) -> SafeString:
        return format_html_join(
            "",
            "<div><strong>{}</strong>: {} → {}</div>",
            (
                (field, change.get("from"), change.get("to"))
                for field, change in entry.changes.items()
            ),
        )
