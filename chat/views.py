"""The agent chat console `/chat/` and its htmx endpoints (lists, one conversation, accept,
decline, transfer, end, internal note). Thin doors: what an agent may see comes from
routing_engine.conversations_for, every change from routing_engine or a chat/ticket service;
a broken rule is shown next to its control. Live updates (offers, lines, typing) come over
the console socket (chat.consumers.agent); these pages are what it reloads."""

from http import HTTPStatus
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import AgentRequest, agent_required
from accounts.models import Team, User
from accounts.selectors import active_agents
from chat import routing_engine
from chat.console import chat_pane, console_lists, conversation_for_pane, transfer_targets
from chat.forms import NoteForm, TransferForm
from chat.models import Conversation, ConversationState
from chat.services import end_conversation
from core.errors import RuleBroken
from tickets.services import post_message

LISTS_CHANGED = "chatListsChanged"


def _conversation(request: AgentRequest, pk: int) -> Conversation:
    try:
        return conversation_for_pane(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404("No such chat.") from None


def _pane_context(request: AgentRequest, conversation: Conversation, **extra: Any) -> dict:
    agents, teams = transfer_targets(request.user)
    return {
        "pane": chat_pane(request.user, conversation),
        "transfer_agents": agents,
        "transfer_teams": teams,
        "errors": {},
        **extra,
    }


def _pane(
    request: AgentRequest, conversation: Conversation, *, status: int = HTTPStatus.OK, **extra: Any
) -> HttpResponse:
    response = render(
        request, "chat/_pane.html", _pane_context(request, conversation, **extra), status=status
    )
    if status == HTTPStatus.OK:
        response["HX-Trigger"] = LISTS_CHANGED
    return response


@require_GET
@agent_required
def console(request: AgentRequest) -> HttpResponse:
    context: dict[str, Any] = {"lists": console_lists(request.user)}
    selected = request.GET.get("chat", "")
    if selected.isdigit():
        conversation = _conversation(request, int(selected))
        context.update(_pane_context(request, conversation))
    return render(request, "chat/console.html", context)


@require_GET
@agent_required
def lists(request: AgentRequest) -> HttpResponse:
    return render(request, "chat/_lists.html", {"lists": console_lists(request.user)})


@require_GET
@agent_required
def pane(request: AgentRequest, pk: int) -> HttpResponse:
    return render(request, "chat/_pane.html", _pane_context(request, _conversation(request, pk)))


def _act(request: AgentRequest, pk: int, action: Any, field: str = "conversation") -> HttpResponse:
    conversation = _conversation(request, pk)
    try:
        action(conversation)
    except RuleBroken as broken:
        errors = {broken.field or field: broken.message}
        fresh = _conversation(request, pk)
        return _pane(request, fresh, status=HTTPStatus.BAD_REQUEST, errors=errors)
    after = routing_engine.conversations_for(request.user).filter(pk=pk).first()
    if after is None:  # handed to another team: no longer this agent's to see
        response = render(request, "chat/_gone.html", {"conversation": conversation})
        response["HX-Trigger"] = LISTS_CHANGED
        return response
    return _pane(request, _conversation(request, pk))


@require_POST
@agent_required
def accept(request: AgentRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda c: routing_engine.accept(conversation=c, agent=request.user))


@require_POST
@agent_required
def decline(request: AgentRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda c: routing_engine.decline_or_timeout(conversation=c, agent=request.user),
    )


@require_POST
@agent_required
def end(request: AgentRequest, pk: int) -> HttpResponse:
    def end_it(conversation: Conversation) -> None:
        holds = (
            conversation.state == ConversationState.ACTIVE
            and conversation.agent_id == request.user.pk
        )
        if not (holds or request.user.is_manager):
            raise RuleBroken("conversation", "Only the agent in this chat can end it.")
        end_conversation(conversation=conversation, actor=request.user)

    return _act(request, pk, end_it)


@require_POST
@agent_required
def transfer(request: AgentRequest, pk: int) -> HttpResponse:
    form = TransferForm(request.POST)
    if not form.is_valid():
        errors = _form_errors(form)
        return _pane(
            request, _conversation(request, pk), status=HTTPStatus.BAD_REQUEST, errors=errors
        )
    data = form.cleaned_data
    to_agent = to_team = None
    if data["to"].startswith("agent:"):
        to_agent = (
            active_agents()
            .select_related("agent_profile")
            .filter(pk=int(data["to"].split(":")[1]))
            .first()
        )
        if to_agent is None:
            return _act(request, pk, _refuse("to", "There is no such agent."))
    elif data["to"].startswith("team:"):
        to_team = Team.objects.filter(pk=int(data["to"].split(":")[1])).first()
        if to_team is None:
            return _act(request, pk, _refuse("to", "There is no such team."))

    def hand_over(conversation: Conversation) -> None:
        try:
            routing_engine.transfer(
                conversation=conversation,
                actor=request.user,
                note=data["note"],
                to_agent=to_agent,
                to_team=to_team,
            )
        except RuleBroken as broken:
            raise RuleBroken(
                "to" if broken.field in {"to_agent", "to_team"} else broken.field, broken.message
            ) from broken

    return _act(request, pk, hand_over)


def _form_errors(form: Any) -> dict[str, str]:
    return {name: " ".join(str(m) for m in messages) for name, messages in form.errors.items()}


def _refuse(field: str, message: str) -> Any:
    def refuse(conversation: Conversation) -> None:
        raise RuleBroken(field, message)

    return refuse


@require_POST
@agent_required
def note(request: AgentRequest, pk: int) -> HttpResponse:
    form = NoteForm(request.POST)
    if not form.is_valid():
        errors = _form_errors(form)
        return _pane(
            request, _conversation(request, pk), status=HTTPStatus.BAD_REQUEST, errors=errors
        )
    author: User = request.user
    return _act(
        request,
        pk,
        lambda c: post_message(
            ticket=c.ticket, author=author, body=form.cleaned_data["body"], is_internal=True
        ),
        field="body",
    )
