"""Forms of the customer pages; they translate, customers.services decides."""

from django import forms


class NotesForm(forms.Form):
    notes = forms.CharField(
        required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 4})
    )
