"""Customer pages of the agent UI: the directory with search (`/customers/`) and one customer
(`/customers/<id>/`) with editable notes. The ticket history on the customer page is a
fragment served by tickets (`/customers/<id>/tickets/`): customers never imports tickets."""

from http import HTTPStatus

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import AgentRequest, agent_required
from core.errors import RuleBroken
from customers.forms import NotesForm
from customers.models import Customer
from customers.selectors import customers_visible_to, search_customers
from customers.services import update_customer

PAGE_SIZE = 50


def _customer(request: AgentRequest, pk: int) -> Customer:
    customer = customers_visible_to(request.user).filter(pk=pk).first()
    if customer is None:
        raise Http404("No such customer.")
    return customer


@require_GET
@agent_required
def directory(request: AgentRequest) -> HttpResponse:
    """Search by name, email or shop id; keyset pages in name order (no OFFSET)."""
    text = request.GET.get("q", "").strip()[:200]
    customers = search_customers(customers_visible_to(request.user), text).order_by("name", "id")
    after_name, after_id = request.GET.get("after_name"), request.GET.get("after_id", "")
    error = ""
    if after_name is not None:
        if after_id.isdigit():
            customers = customers.filter(name__gt=after_name) | customers.filter(
                name=after_name, id__gt=int(after_id)
            )
        else:
            error = "That page link is broken; showing the first page."
    rows = list(customers[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    context = {"customers": rows, "q": text, "more": more, "last": rows[-1] if rows else None,
               "error": error}  # fmt: skip
    template = "customers/_rows.html" if request.htmx else "customers/directory.html"
    return render(request, template, context)


@require_GET
@agent_required
def customer_page(request: AgentRequest, pk: int) -> HttpResponse:
    customer = _customer(request, pk)
    return render(
        request,
        "customers/customer.html",
        {"customer": customer, "notes_form": NotesForm(initial={"notes": customer.notes})},
    )


@require_POST
@agent_required
def edit_notes(request: AgentRequest, pk: int) -> HttpResponse:
    customer = _customer(request, pk)
    form = NotesForm(request.POST)
    status, saved = HTTPStatus.OK, False
    if form.is_valid():
        try:
            customer = update_customer(
                customer=customer, actor=request.user, changes={"notes": form.cleaned_data["notes"]}
            )
            saved = True
        except RuleBroken as broken:
            form.add_error("notes", broken.message)
    if not saved:
        status = HTTPStatus.BAD_REQUEST
    return render(
        request,
        "customers/_notes.html",
        {"customer": customer, "notes_form": form, "saved": saved},
        status=status,
    )
