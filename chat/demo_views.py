"""The demo shop page (/demo/shop/): a little shop with the chat widget embedded by its one
tag, so a new user sees the chat from the customer's side (README's tour)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from chat.demo import DEMO_SITE_KEY
from chat.models import Site

PRODUCTS = [
    ("Linen shirt", "Breathable, relaxed fit, stone washed.", "49.00"),
    ("Merino wool sweater", "Fine knit, warm without the itch.", "89.00"),
    ("Running shoes", "Light, cushioned, for daily miles.", "119.00"),
    ("Rain jacket", "Taped seams, packs into its own pocket.", "139.00"),
    ("Leather ankle boots", "Full grain leather, resoleable.", "179.00"),
    ("Canvas tote", "Organic cotton, inside pocket.", "25.00"),
]


@require_safe
def demo_shop(request: HttpRequest) -> HttpResponse:
    """Public like a shop's page; it shows the demo site's tag, or says how to create it."""
    site = Site.objects.filter(key=DEMO_SITE_KEY, is_active=True).first()
    return render(
        request,
        "chat/demo_shop.html",
        {
            "site": site,
            "products": PRODUCTS,
            "widget_url": request.build_absolute_uri("/static/chat/widget.js"),
        },
    )
