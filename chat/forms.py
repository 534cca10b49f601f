"""Forms of the chat console (its doors translate them into routing and service calls)."""

from django import forms

from accounts.models import Team
from chat.models import PrechatField
from chat.routing_engine import TRANSFER_NOTE_MAX
from chat.services.sites import MAX_MISSED_AFTER
from slas.models import BusinessCalendar


class TransferForm(forms.Form):
    # "agent:<id>" or "team:<id>": one select, grouped, so a person picks one target.
    to = forms.RegexField(
        regex=r"^(agent|team):[1-9][0-9]{0,11}$",
        error_messages={
            "required": "Choose an agent or a team.",
            "invalid": "Choose an agent or a team from the list.",
        },
    )
    note = forms.CharField(required=False, max_length=TRANSFER_NOTE_MAX, strip=True)


class NoteForm(forms.Form):
    body = forms.CharField(
        max_length=10000, strip=True, error_messages={"required": "A note cannot be empty."}
    )


class SiteForm(forms.Form):
    """What a manager sets on a site; chat.services.sites checks the rules again."""

    name = forms.CharField(max_length=200)
    allowed_origins = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One a line, exactly as browsers send it: https://shop.example (no path).",
    )
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    calendar = forms.ModelChoiceField(
        queryset=BusinessCalendar.objects.none(),
        required=False,
        empty_label="Always open",
        help_text="Outside these hours the widget says when you open again.",
    )
    offer_timeout_seconds = forms.IntegerField(
        min_value=5,
        max_value=600,
        label="Offer time-out (seconds)",
        help_text="An offered chat not accepted in this time goes to the next agent.",
    )
    missed_after_seconds = forms.IntegerField(
        min_value=0,
        max_value=MAX_MISSED_AFTER,
        label="Give up waiting after (seconds)",
        help_text="When the site is closed or none of its team is online, a waiting chat becomes "
        "a ticket after this long and the customer is told the answer comes by email. "
        "Chats queued behind busy agents keep waiting. 0: never.",
    )
    prechat_fields = forms.MultipleChoiceField(
        choices=PrechatField.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Pre-chat fields",
    )
    greeting = forms.CharField(max_length=300, required=False)
    colour = forms.RegexField(
        regex=r"^#[0-9a-fA-F]{6}$",
        max_length=7,
        widget=forms.TextInput(attrs={"type": "color"}),
        error_messages={"invalid": "A colour is #rrggbb, like #1f6feb."},
    )
    require_identity = forms.BooleanField(
        required=False,
        label="Require identity",
        help_text="Only customers the shop signed in (with a valid signature) may chat.",
    )
    is_active = forms.BooleanField(required=False, label="Chat is switched on")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["team"].queryset = Team.objects.filter(is_active=True).order_by("name")  # type: ignore[attr-defined]
        self.fields["calendar"].queryset = BusinessCalendar.objects.order_by("name")  # type: ignore[attr-defined]
