"""Users, agent profiles and teams in the Django admin. Teams are written by
`accounts.services`; a user's agent profile (role, teams, time zone, availability, chat capacity)
is edited inline on the user."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import AgentProfile, Team, User
from accounts.selectors import active_agents, signed_in
from accounts.services import MAX_CHAT_CAPACITY, create_team, update_team
from core.admin import ShowsBrokenRulesAsFormErrors, saved_through

# Autocomplete fields that only take agents (the user search then offers agents only).
AGENT_ONLY_FIELDS = {"assignee", "manager"}


class AgentProfileForm(forms.ModelForm):
    class Meta:
        model = AgentProfile
        fields = ["role", "teams", "timezone", "availability", "chat_capacity"]
        widgets = {"teams": forms.CheckboxSelectMultiple}

    def has_changed(self) -> bool:
        # The inline shows no empty profile (extra = 0): a new one is there only because the
        # admin added it, so it is saved even with every default left as it is.
        return self.instance.pk is None or super().has_changed()

    def clean_chat_capacity(self) -> int:
        capacity = self.cleaned_data["chat_capacity"]
        if capacity > MAX_CHAT_CAPACITY:
            raise forms.ValidationError(f"Chat capacity is between 0 and {MAX_CHAT_CAPACITY}.")
        return capacity


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    form = AgentProfileForm
    can_delete = True
    extra = 0
    max_num = 1
    verbose_name = "agent profile"
    verbose_name_plural = "agent profile (only for people who work tickets)"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [AgentProfileInline]
    list_display = ["username", "email", "first_name", "last_name", "role", "is_staff", "is_active"]
    list_filter = ["agent_profile__role", "is_staff", "is_superuser", "is_active"]
    list_select_related = ["agent_profile"]
    search_fields = ["username", "email", "first_name", "last_name"]
    show_full_result_count = False

    @admin.display(description="Role", ordering="agent_profile__role")
    def role(self, user: User) -> str:
        profile = getattr(user, "agent_profile", None)
        return profile.get_role_display() if profile else "—"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        # The assignee and team-manager pickers offer agents, not every customer login.
        if request.GET.get("field_name") in AGENT_ONLY_FIELDS:
            queryset = queryset.filter(pk__in=active_agents())
        return super().get_search_results(request, queryset, search_term)


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    """Every agent at a glance; edit one on its user's page."""

    form = AgentProfileForm
    list_display = ["user", "role", "availability", "chat_capacity", "timezone"]
    list_filter = ["role", "availability", "teams"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]

    fields = ["user", *AgentProfileForm.Meta.fields]


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
class TeamAdmin(ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    form = TeamForm
    list_display = ["name", "manager", "created_at"]
    list_select_related = ["manager"]
    search_fields = ["name"]
    autocomplete_fields = ["manager"]
    fields = ["name", "description", "manager", "members"]

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
