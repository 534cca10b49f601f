"""Routes of the ticket workspace, the macro pages and the customer history fragment; spliced
into tickets/urls.py (namespace "tickets")."""

from django.urls import path

from tickets import macro_views
from tickets import workspace_views as views

urlpatterns = [
    path("tickets/<int:pk>/", views.ticket_page, name="ticket"),
    path("tickets/<int:pk>/timeline/", views.timeline, name="ticket-timeline"),
    path("tickets/<int:pk>/controls/", views.controls, name="ticket-controls"),
    path("tickets/<int:pk>/controls/<str:field>/", views.change_control, name="ticket-change"),
    path("tickets/<int:pk>/draft/", views.save_reply_draft, name="ticket-draft"),
    path("tickets/<int:pk>/reply/", views.send_reply, name="ticket-reply"),
    path("tickets/<int:pk>/replies/<int:reply_pk>/undo/", views.undo_reply, name="ticket-undo"),
    path(
        "tickets/<int:pk>/replies/<int:reply_pk>/deliver/",
        views.deliver_reply_now,
        name="ticket-deliver",
    ),
    path("tickets/<int:pk>/macros/", views.macro_picker, name="ticket-macros"),
    path("tickets/<int:pk>/macros/<int:macro_pk>/use/", views.use_macro, name="ticket-use-macro"),
    path("customers/<int:pk>/tickets/", views.customer_history, name="customer-history"),
    path("macros/", macro_views.macro_list, name="macros"),
    path("macros/new/", macro_views.macro_create, name="macro-new"),
    path("macros/<int:pk>/", macro_views.macro_edit, name="macro-edit"),
    path("macros/<int:pk>/retire/", macro_views.macro_retire, name="macro-retire"),
]
