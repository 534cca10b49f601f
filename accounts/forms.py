from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import Availability


class SignInForm(AuthenticationForm):
    # One message for a wrong password and an unknown user: the page never tells which.
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match. Check both and try again.",
    }


class AvailabilityForm(forms.Form):
    availability = forms.ChoiceField(choices=Availability.choices)
