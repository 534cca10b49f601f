"""Tickets in the Django admin. Every change with a rule goes through `tickets.services`, as it
does from the API: opening (`open_ticket`), routing and lifecycle (`update_ticket`), replies and
notes (`post_message`). The audit trail and the conversation are read-only here."""

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from accounts.models import User
from accounts.selectors import active_agents, signed_in
from core.admin import (
    HostileQueryIsNoMatch,
    MultipleFileField,
    ShowsBrokenRulesAsFormErrors,
    saved_through,
)
from core.errors import RuleBroken
from core.ids import MAX_ID
from customers.admin import TagAdmin as CustomersTagAdmin
from customers.models import Tag
from tickets.models import Attachment, Message, Notification, Status, Ticket, TicketEvent
from tickets.services import (
    UPDATABLE_FIELDS,
    assign_ticket,
    open_ticket,
    post_message,
    retire_tag,
    sanitize_body,
    update_ticket,
)
from tickets.tasks import queue_notification

OPEN_STATUSES = [status for status in Status.values if status != Status.CLOSED]


def ticket_pk(search_term: str) -> int | None:
    """The ticket a search for its reference means (`HD-1042`, `1042`); 0 for a number that no
    ticket can have."""
    try:
        pk = Ticket.pk_from_reference(search_term)
    except ValueError:  # digits int() does not read, such as "²"
        return 0
    return 0 if pk is not None and pk > MAX_ID else pk


def safe_body(message: Message) -> SafeString:
    # Sanitized when posted; cleaned again here in case a row came in some other way (a bulk
    # import), since this page shows it as HTML.
    return mark_safe(sanitize_body(message.body))  # noqa: S308 - nh3 output


def download_url(attachment: Attachment) -> str:
    # Files have no public URL (nothing serves MEDIA_URL): the API streams them after its
    # access check, which the signed-in admin's session passes.
    return reverse("api:attachment-download", args=[attachment.pk])


def admin_link(obj: Any, text: Any = None) -> SafeString:
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


class ReadOnlyAdmin(HostileQueryIsNoMatch, admin.ModelAdmin):
    """Rows written only by services: the admin shows them and never edits them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AssigneeFilter(admin.SimpleListFilter):
    """Agents only (a plain FK filter would list every customer login too), and unassigned."""

    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        people = active_agents().order_by("username").only("username", "first_name", "last_name")
        # Someone deactivated (or no longer an agent) who still holds open tickets is listed
        # too, so those tickets can be found and returned to the queue.
        former = (
            User.objects.filter(assigned_tickets__status__in=OPEN_STATUSES)
            .exclude(pk__in=active_agents())
            .distinct()
            .order_by("username")
            .only("username", "first_name", "last_name")
        )
        return [
            ("none", "Unassigned"),
            *((str(user.pk), user.display_name) for user in people),
            *((str(user.pk), f"{user.display_name} (inactive)") for user in former),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        value = self.value()
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if not value:
            return queryset
        if not value.isascii() or not value.isdigit() or not 0 < int(value) <= MAX_ID:
            return queryset.none()  # `abc`, `-1`, a 20-digit number: nobody has that id
        return queryset.filter(assignee_id=int(value))


# --- tickets ------------------------------------------------------------------------------------


class TicketAddForm(forms.ModelForm):
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="The customer's request: the ticket's first message.",
    )
    attachments = MultipleFileField(required=False)

    class Meta:
        model = Ticket
        fields = ["customer", "subject", "channel", "priority", "type", "team", "assignee", "tags",
                  "parent"]  # fmt: skip


class TicketChangeForm(forms.ModelForm):
    reply = forms.CharField(
        label="Add a reply or note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Posted with your name when you save. Leave empty to post nothing.",
    )
    reply_is_internal = forms.BooleanField(
        label="Internal note", required=False, help_text="Agents only; never shown to the customer."
    )
    reply_attachments = MultipleFileField(label="Attachments", required=False)

    class Meta:
        model = Ticket
        fields = ["subject", "type", "parent", "status", "priority", "team", "assignee", "tags"]


@admin.register(Ticket)
class TicketAdmin(HostileQueryIsNoMatch, ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
    list_display = [
        "ticket_reference",
        "subject",
        "customer",
        "status",
        "priority",
        "type",
        "channel",
        "team",
        "assignee",
        "updated_at",
    ]
    list_display_links = ["ticket_reference", "subject"]
    list_filter = ["status", "priority", "type", "channel", "team", AssigneeFilter]
    list_select_related = ["customer", "team", "assignee"]
    search_fields = ["subject", "customer__email", "customer__name"]
    show_full_result_count = False  # a second COUNT(*) over every ticket buys nothing
    autocomplete_fields = ["customer", "parent", "team", "assignee", "tags"]
    readonly_fields = [
        "reference",
        "customer_link",
        "channel",
        "created_at",
        "updated_at",
        "first_agent_reply_at",
        "solved_at",
        "closed_at",
        "conversation",
        "history",
    ]
    add_fieldsets = [
        (None, {"fields": ["customer", "subject", "description", "attachments"]}),
        ("Routing", {"fields": ["channel", "priority", "type", "team", "assignee", "tags"]}),
        ("Link", {"fields": ["parent"]}),
    ]
    fieldsets = [
        (None, {"fields": ["reference", "customer_link", "channel", "subject", "type", "parent"]}),
        ("Lifecycle and routing", {"fields": ["status", "priority", "team", "assignee", "tags"]}),
        (
            "Conversation",
            {"fields": ["conversation", "reply", "reply_is_internal", "reply_attachments"]},
        ),
        ("History", {"fields": ["history"], "classes": ["collapse"]}),
        (
            "Timestamps",
            {
                "fields": [
                    "created_at",
                    "updated_at",
                    "first_agent_reply_at",
                    "solved_at",
                    "closed_at",
                ]
            },
        ),
    ]

    actions = ["return_to_queue"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the audit trail goes with the ticket; close it instead

    @admin.action(description="Return the selected tickets to the unassigned queue")
    def return_to_queue(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        """Say, the open tickets of someone who left: each goes through assign_ticket, so each
        gets its audit event and its live event."""
        returned = 0
        for ticket in queryset.filter(assignee__isnull=False).order_by("id"):
            try:
                assign_ticket(ticket=ticket, assignee=None, actor=signed_in(request.user))
                returned += 1
            except RuleBroken as broken:
                self.message_user(request, f"{ticket.reference}: {broken.message}", messages.ERROR)
        self.message_user(request, f"Returned {returned} ticket(s) to the queue.", messages.SUCCESS)

    def get_fieldsets(self, request: HttpRequest, obj: Ticket | None = None) -> list[Any]:
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Ticket | None = None) -> list[str]:
        if obj is None:
            return []
        return self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: Ticket | None = None, change: bool = False, **kwargs: Any
    ):
        kwargs["form"] = TicketAddForm if obj is None else TicketChangeForm
        return super().get_form(request, obj, change, **kwargs)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "assignee":
            kwargs["queryset"] = active_agents()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        # "HD-1042" finds that ticket; anything else searches subjects and customers.
        pk = ticket_pk(search_term) if search_term.upper().startswith("HD-") else None
        if pk is not None:
            return queryset.filter(pk=pk), False
        return super().get_search_results(request, queryset, search_term)

    def rule_field(self, rule_field: str, *, adding: bool) -> str:
        if adding:
            return {"body": "description"}.get(rule_field, rule_field)
        replies = {"body": "reply", "is_internal": "reply_is_internal", "author": "reply",
                   "attachments": "reply_attachments"}  # fmt: skip
        return replies.get(rule_field, rule_field)

    # --- writes: every one through a service -------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Ticket, form: forms.ModelForm, change: bool):
        data = form.cleaned_data
        if not change:
            ticket = open_ticket(
                customer=data["customer"],
                subject=data["subject"],
                body=data["description"],
                actor=signed_in(request.user),
                channel=data["channel"],
                priority=data["priority"],
                type=data["type"],
                team=data.get("team"),
                assignee=data.get("assignee"),
                tags=[tag.name for tag in data.get("tags") or []],
                parent=data.get("parent"),
                attachments=data.get("attachments") or [],
            )
            saved_through(obj, ticket)
            return
        # The reply first: "reply and close" must post before the ticket is closed.
        if data.get("reply") or data.get("reply_attachments"):
            post_message(
                ticket=obj,
                author=signed_in(request.user),
                body=data.get("reply") or "",
                is_internal=data.get("reply_is_internal", False),
                attachments=data.get("reply_attachments") or [],
            )
        changes = {name: data[name] for name in form.changed_data if name in UPDATABLE_FIELDS}
        if "tags" in changes:
            changes["tags"] = [tag.name for tag in changes["tags"]]
        if changes:
            update_ticket(ticket=obj, actor=signed_in(request.user), changes=changes)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ):
        """Tags were set by the service; the form's own save_m2m would write them directly."""

    # --- what the pages show -----------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        return super().get_queryset(request).defer("search_document")

    @admin.display(description="Reference", ordering="id")
    def ticket_reference(self, ticket: Ticket) -> str:
        return ticket.reference

    @admin.display(description="Customer")
    def customer_link(self, ticket: Ticket) -> SafeString:
        return admin_link(ticket.customer)

    @admin.display(description="Messages")
    def conversation(self, ticket: Ticket) -> SafeString:
        messages_ = (
            ticket.messages.select_related("author").prefetch_related("attachments").order_by("id")
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    message.created_at.strftime("%Y-%m-%d %H:%M"),
                    message.get_sender_display(),
                    f" ({message.author.display_name})" if message.author else "",
                    "Internal note" if message.is_internal else "Public reply",
                    safe_body(message),
                    format_html_join(
                        ", ",
                        '<a href="{}">{}</a>',
                        ((download_url(a), a.filename) for a in message.attachments.all()),
                    ),
                )
                for message in messages_
            ),
        )
        if not rows:
            return format_html("<p>{}</p>", "No messages.")
        return format_html(
            "<table><thead><tr><th>When</th><th>From</th><th>Kind</th><th>Message</th>"
            "<th>Files</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Audit trail")
    def history(self, ticket: Ticket) -> SafeString:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            (
                (
                    event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    event.get_kind_display(),
                    event.actor.display_name if event.actor else "system",
                    event.data,
                )
                for event in ticket.events.select_related("actor")
            ),
        )
        return format_html(
            "<table><thead><tr><th>When</th><th>What</th><th>Who</th><th>Change</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )


# --- the conversation and the audit, read-only ------------------------------------------------


class AttachmentInline(admin.TabularInline):
    model = Attachment
    fields = readonly_fields = ("file_link", "content_type", "size", "created_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="File")
    def file_link(self, attachment: Attachment) -> SafeString:
        return format_html('<a href="{}">{}</a>', download_url(attachment), attachment.filename)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """Messages are posted from the ticket page (through post_message) and never edited."""

    list_display = ["id", "ticket", "sender", "author", "is_internal", "created_at"]
    list_filter = ["sender", "is_internal"]
    list_select_related = ["ticket", "author"]
    search_fields = ["body"]
    show_full_result_count = False
    fields = readonly_fields = (
        "ticket",
        "author",
        "sender",
        "is_internal",
        "rendered_body",
        "created_at",
    )
    inlines = [AttachmentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).defer("ticket__search_document")

    @admin.display(description="Body")
    def rendered_body(self, message: Message) -> SafeString:
        return safe_body(message)


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ["filename", "message", "content_type", "size", "created_at"]
    list_filter = ["content_type"]
    list_select_related = ["message"]
    search_fields = ["filename"]
    fields = readonly_fields = (
        "message",
        "filename",
        "file_link",
        "content_type",
        "size",
        "created_at",
    )

    @admin.display(description="File")
    def file_link(self, attachment: Attachment) -> SafeString:
        return format_html('<a href="{}">{}</a>', download_url(attachment), attachment.filename)


@admin.register(TicketEvent)
class TicketEventAdmin(ReadOnlyAdmin):
    """The audit trail: append-only in the model, and read-only here."""

    list_display = ["created_at", "ticket", "kind", "actor", "data"]
    list_filter = ["kind"]
    list_select_related = ["ticket", "actor"]
    search_fields = ["ticket__subject"]
    show_full_result_count = False
    fields = readonly_fields = ("ticket", "kind", "actor", "data", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[TicketEvent]:
        return super().get_queryset(request).defer("ticket__search_document")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        pk = ticket_pk(search_term)
        if pk is not None:
            return queryset.filter(ticket_id=pk), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The email outbox. Sending is the worker's job; an admin may only nudge it."""

    list_display = ["created_at", "ticket", "kind", "recipient", "sent_at", "attempts"]
    list_filter = ["kind", ("sent_at", admin.EmptyFieldListFilter)]
    list_select_related = ["ticket"]
    search_fields = ["recipient"]
    fields = readonly_fields = (
        "ticket",
        "kind",
        "recipient",
        "created_at",
        "sent_at",
        "attempts",
        "last_error",
    )
    actions = ["send_unsent_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return super().get_queryset(request).defer("ticket__search_document")

    @admin.action(description="Queue the selected unsent emails now")
    def send_unsent_now(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        # Sending stays idempotent in the task; a sent row is never sent twice.
        unsent = list(queryset.filter(sent_at__isnull=True).values_list("pk", flat=True))
        for pk in unsent:
            transaction.on_commit(partial(queue_notification, pk))
        self.message_user(request, f"Queued {len(unsent)} email(s).", messages.SUCCESS)


# --- tags: retired where both tickets and customers are known ------------------------------------

admin.site.unregister(Tag)


@admin.register(Tag)
class TagAdmin(CustomersTagAdmin):
    """The customers app's tag list, plus the one way a tag goes away: retiring it through
    `retire_tag`, which records each ticket's and customer's change."""

    actions = ["retire_selected"]

    @admin.action(description="Retire the selected tags (off every open ticket and customer)")
    def retire_selected(self, request: HttpRequest, queryset: QuerySet[Tag]) -> None:
        for tag in queryset.order_by("name"):
            name = tag.name
            retired = retire_tag(tag=tag, actor=signed_in(request.user))
            kept = "" if retired["deleted"] else " (kept by closed tickets)"
            self.message_user(
                request,
                f"{name}: taken off {retired['tickets']} ticket(s) and "
                f"{retired['customers']} customer(s){kept}.",
                messages.SUCCESS,
            )


from tickets import admin_macros  # noqa: E402, F401 - Macro admin, in its own module
