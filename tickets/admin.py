"""Tickets in the Django admin. Every change with a rule goes through `tickets.services`, as it
does from the API: opening (`open_ticket`), routing and lifecycle (`update_ticket`), replies and
notes (`post_message`). The audit trail and the conversation are read-only here."""

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
from core.admin import MultipleFileField, ShowsBrokenRulesAsFormErrors
from tickets.models import Attachment, Message, Notification, Ticket, TicketEvent
from tickets.services import (
    UPDATABLE_FIELDS,
    open_ticket,
    post_message,
    sanitize_body,
    update_ticket,
)
from tickets.tasks import queue_notification


def agents() -> QuerySet[User]:
    return User.objects.filter(agent_profile__isnull=False, is_active=True)


def safe_body(message: Message) -> SafeString:
    # Sanitized when posted; cleaned again here in case a row came in some other way (a bulk
    # import), since this page shows it as HTML.
    return mark_safe(sanitize_body(message.body))  # noqa: S308 - nh3 output


def admin_link(obj: Any, text: Any = None) -> SafeString:
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


class ReadOnlyAdmin(admin.ModelAdmin):
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
        people = agents().order_by("username").only("username", "first_name", "last_name")
        return [("none", "Unassigned"), *((str(user.pk), user.display_name) for user in people)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.value() == "none":
            return queryset.filter(assignee__isnull=True)
        if self.value():
            return queryset.filter(assignee_id=self.value())
        return queryset


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
class TicketAdmin(ShowsBrokenRulesAsFormErrors, admin.ModelAdmin):
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

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the audit trail goes with the ticket; close it instead

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
            kwargs["queryset"] = agents()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        # "HD-1042" finds that ticket; anything else searches subjects and customers.
        pk = (
            Ticket.pk_from_reference(search_term) if search_term.upper().startswith("HD-") else None
        )
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
                actor=request.user,
                channel=data["channel"],
                priority=data["priority"],
                type=data["type"],
                team=data.get("team"),
                assignee=data.get("assignee"),
                tags=[tag.name for tag in data.get("tags") or []],
                parent=data.get("parent"),
                attachments=data.get("attachments") or [],
            )
            # The admin goes on with the object it built (for links and the log entry).
            obj.pk = ticket.pk
            obj.refresh_from_db()
            obj._state.adding = False
            return
        # The reply first: "reply and close" must post before the ticket is closed.
        if data.get("reply") or data.get("reply_attachments"):
            post_message(
                ticket=obj,
                author=request.user,
                body=data.get("reply") or "",
                is_internal=data.get("reply_is_internal", False),
                attachments=data.get("reply_attachments") or [],
            )
        changes = {name: data[name] for name in form.changed_data if name in UPDATABLE_FIELDS}
        if "tags" in changes:
            changes["tags"] = [tag.name for tag in changes["tags"]]
        if changes:
            update_ticket(ticket=obj, actor=request.user, changes=changes)

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
                        ((a.file.url, a.filename) for a in message.attachments.all()),
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
    fields = ["file_link", "content_type", "size", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="File")
    def file_link(self, attachment: Attachment) -> SafeString:
        return format_html('<a href="{}">{}</a>', attachment.file.url, attachment.filename)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """Messages are posted from the ticket page (through post_message) and never edited."""

    list_display = ["id", "ticket", "sender", "author", "is_internal", "created_at"]
    list_filter = ["sender", "is_internal"]
    list_select_related = ["ticket", "author"]
    search_fields = ["body"]
    show_full_result_count = False
    fields = ["ticket", "author", "sender", "is_internal", "rendered_body", "created_at"]
    readonly_fields = fields
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
    fields = ["message", "filename", "file", "content_type", "size", "created_at"]
    readonly_fields = fields


@admin.register(TicketEvent)
class TicketEventAdmin(ReadOnlyAdmin):
    """The audit trail: append-only in the model, and read-only here."""

    list_display = ["created_at", "ticket", "kind", "actor", "data"]
    list_filter = ["kind"]
    list_select_related = ["ticket", "actor"]
    search_fields = ["ticket__subject"]
    show_full_result_count = False
    fields = ["ticket", "kind", "actor", "data", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[TicketEvent]:
        return super().get_queryset(request).defer("ticket__search_document")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        pk = Ticket.pk_from_reference(search_term)
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
    fields = ["ticket", "kind", "recipient", "created_at", "sent_at", "attempts", "last_error"]
    readonly_fields = fields
    actions = ["send_unsent_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return super().get_queryset(request).defer("ticket__search_document")

    @admin.action(description="Queue the selected unsent emails now")
    def send_unsent_now(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        # Sending stays idempotent in the task; a sent row is never sent twice.
        unsent = list(queryset.filter(sent_at__isnull=True).values_list("pk", flat=True))
        for pk in unsent:
            transaction.on_commit(lambda pk=pk: queue_notification(pk))
        self.message_user(request, f"Queued {len(unsent)} email(s).", messages.SUCCESS)


from tickets import admin_macros  # noqa: E402, F401 - Macro admin, in its own module
