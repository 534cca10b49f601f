"""Customer pages of the agent UI (the REST API is in customers/api/)."""

from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("customers/", views.directory, name="directory"),
    path("customers/<int:pk>/", views.customer_page, name="customer"),
    path("customers/<int:pk>/notes/", views.edit_notes, name="notes"),
]
