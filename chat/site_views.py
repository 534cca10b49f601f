"""The Sites manager pages `/chat/sites/`: the shops that embed the widget, their settings, key,
embed snippet and identity secret (managers only). Changes go through chat.services.sites."""

from http import HTTPStatus
from typing import Any

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import AgentRequest, manager_required
from chat.forms import SiteForm
from chat.models import Site
from chat.services.sites import create_site, rotate_identity_secret, update_site
from core.errors import RuleBroken


def _site(pk: int) -> Site:
    site = Site.objects.select_related("team", "calendar").filter(pk=pk).first()
    if site is None:
        raise Http404("No such site.")
    return site


def embed_snippet(request: AgentRequest, site: Site) -> str:
    src = request.build_absolute_uri(static("chat/widget.js"))
    return f'<script src="{src}" data-site="{site.key}" async></script>'


def _initial(site: Site) -> dict[str, Any]:
    return {
        "name": site.name,
        "allowed_origins": "\n".join(site.allowed_origins),
        "team": site.team_id,
        "calendar": site.calendar_id,
        "offer_timeout_seconds": site.offer_timeout_seconds,
        "missed_after_seconds": site.missed_after_seconds,
        "prechat_fields": site.prechat_fields,
        "greeting": site.greeting,
        "colour": site.colour,
        "require_identity": site.require_identity,
        "is_active": site.is_active,
    }


DEFAULTS = {
    "offer_timeout_seconds": 30,
    "missed_after_seconds": 120,
    "prechat_fields": ["name", "email"],
    "greeting": "Hi! How can we help?",
    "colour": "#1f6feb",
    "is_active": True,
}


@require_http_methods(["GET"])
@manager_required
def site_list(request: AgentRequest) -> HttpResponse:
    sites = list(Site.objects.select_related("team", "calendar").order_by("name", "id"))
    return render(request, "chat/sites.html", {"sites": sites})


def _save(request: AgentRequest, form: SiteForm, site: Site | None) -> Site | None:
    if not form.is_valid():
        return None
    values = dict(form.cleaned_data)
    values["allowed_origins"] = values["allowed_origins"].split()
    try:
        if site is None:
            return create_site(actor=request.user, **values)
        return update_site(site=site, actor=request.user, changes=values)
    except RuleBroken as broken:
        form.add_error(broken.field if broken.field in form.fields else None, broken.message)
        return None


@require_http_methods(["GET", "POST"])
@manager_required
def site_create(request: AgentRequest) -> HttpResponse:
    form = SiteForm(request.POST or None, initial=DEFAULTS)
    if request.method == "POST":
        site = _save(request, form, None)
        if site is not None:
            return HttpResponseRedirect(reverse("chat:site-edit", args=[site.pk]) + "?created=1")
    status = HTTPStatus.BAD_REQUEST if form.errors else HTTPStatus.OK
    return render(request, "chat/site_form.html", {"form": form, "site": None}, status=status)


@require_http_methods(["GET", "POST"])
@manager_required
def site_edit(request: AgentRequest, pk: int) -> HttpResponse:
    site = _site(pk)
    form = SiteForm(request.POST or None, initial=_initial(site))
    saved = False
    if request.method == "POST":
        updated = _save(request, form, site)
        if updated is not None:
            site, saved = updated, True
    context = {
        "form": form,
        "site": site,
        "saved": saved,
        "created": request.GET.get("created") == "1",
        "snippet": embed_snippet(request, site),
    }
    status = HTTPStatus.BAD_REQUEST if form.errors else HTTPStatus.OK
    return render(request, "chat/site_form.html", context, status=status)


@require_POST
@manager_required
def rotate_secret(request: AgentRequest, pk: int) -> HttpResponse:
    site = rotate_identity_secret(site=_site(pk), actor=request.user)
    return HttpResponseRedirect(reverse("chat:site-edit", args=[site.pk]) + "?rotated=1")
