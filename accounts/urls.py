from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.SignInView.as_view(), name="sign-in"),
    path("sign-out/", views.SignOutView.as_view(), name="sign-out"),
    path("me/availability/", views.availability, name="availability"),
]
