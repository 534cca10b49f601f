"""Forgetting `core.admin.HostileQueryIsNoMatch` on an admin of ours fails the system check
(core.E001), which `manage.py check`, `migrate`, `runserver` and CI's `makemigrations --check`
run. tests/test_admin_filters.py shows what the mixin itself does."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from core.admin import HostileQueryIsNoMatch, admins_letting_hostile_queries_through
from tickets.admin_macros import MacroAdmin
from tickets.models import Macro


class Forgotten(admin.ModelAdmin):
    pass


class TooLate(admin.ModelAdmin, HostileQueryIsNoMatch):
    pass  # Django's get_queryset answers first and never calls on


class Minded(HostileQueryIsNoMatch, admin.ModelAdmin):
    pass


def test_the_project_passes_the_check():
    call_command("check")


def test_the_check_catches_an_admin_of_ours_registered_without_the_mixin():
    admin.site.unregister(Macro)
    admin.site.register(Macro, Forgotten)
    try:
        with pytest.raises(
            SystemCheckError, match=r"core\.E001.*Forgotten \(the admin of tickets\.Macro\)"
        ):
            call_command("check")
    finally:
        admin.site.unregister(Macro)
        admin.site.register(Macro, MacroAdmin)


@pytest.mark.parametrize(("admin_class", "errors"), [(Forgotten, 1), (TooLate, 1), (Minded, 0)])
def test_the_mixin_must_come_before_model_admin(admin_class, errors):
    site = admin.AdminSite(name="scratch")
    site.register(Macro, admin_class)

    found = admins_letting_hostile_queries_through(site)

    assert [(error.id, error.obj) for error in found] == [("core.E001", admin_class)] * errors


def test_a_librarys_admin_is_not_ours_to_fix():
    site = admin.AdminSite(name="scratch")
    site.register(Group, Forgotten)

    assert admins_letting_hostile_queries_through(site) == []
