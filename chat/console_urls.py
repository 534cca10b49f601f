"""Routes of the agent chat console and the Sites manager pages; spliced into chat/urls.py."""

from django.urls import path

from chat import site_views, views

urlpatterns = [
    path("chat/", views.console, name="console"),
    path("chat/lists/", views.lists, name="console-lists"),
    path("chat/<int:pk>/", views.pane, name="pane"),
    path("chat/<int:pk>/accept/", views.accept, name="accept"),
    path("chat/<int:pk>/decline/", views.decline, name="decline"),
    path("chat/<int:pk>/end/", views.end, name="end"),
    path("chat/<int:pk>/transfer/", views.transfer, name="transfer"),
    path("chat/<int:pk>/note/", views.note, name="note"),
    path("chat/sites/", site_views.site_list, name="sites"),
    path("chat/sites/new/", site_views.site_create, name="site-new"),
    path("chat/sites/<int:pk>/", site_views.site_edit, name="site-edit"),
    path("chat/sites/<int:pk>/rotate-secret/", site_views.rotate_secret, name="site-rotate"),
]
