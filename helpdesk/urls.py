from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.api import no_such_route

urlpatterns = [
    # The agent UI: sign-in at `/`, the queue under /tickets/, customers' own requests.
    path("", include("accounts.urls")),
    path("", include("tickets.urls")),
    path("", include("customers.urls")),
    path("", include("slas.urls")),
    path("", include("chat.urls")),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, the API docs).
    path(
        "favicon.ico",
        RedirectView.as_view(url=f"/{settings.STATIC_URL.strip('/')}/favicon.svg", permanent=True),
    ),
    path("api/v1/", include(("helpdesk.api_urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script, so the
    # docs work under the Content-Security-Policy.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    path("api-auth/", include("rest_framework.urls")),
    # Last: whatever else under /api/ ends in a slash. (Without one, APPEND_SLASH redirects.)
    re_path(r"^api/.*/$", no_such_route),
]

handler500 = "core.api.server_error"
