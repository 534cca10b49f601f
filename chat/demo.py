"""The demo shop's chat site, added when `seed_demo` runs (tickets.signals.demo_seeded), so the
README's tour works at once: /demo/shop/ as a customer, /chat/ as `agent`."""

from typing import Any

from accounts.models import Availability, Team, User
from accounts.services import update_agent_profile
from chat.models import PrechatField, Site
from chat.services.sites import create_site, update_site

DEMO_SITE_NAME = "Demo shop"
# A fixed, public key (it is in the page's <script> tag anyway): the docs and the demo page can
# name it, and re-seeding keeps the tag working.
DEMO_SITE_KEY = "demo-shop"
DEMO_TEAM = "Orders & Shipping"
DEMO_AGENT = "agent"  # the README's tour signs in as this agent (on Orders & Shipping)
DEMO_ORIGINS = [
    "http://127.0.0.1:8000",
    "http://localhost:8000",
    # A second origin, for trying the widget on a page served elsewhere (docs/widget.md:
    # `python -m http.server 8001` in a folder with a copy of the shop page). The browser test
    # adds its own randomly chosen origin.
    "http://127.0.0.1:8001",
    "http://localhost:8001",
]


def add_demo_site(*, log: Any = print, **_: Any) -> Site | None:
    """Create the demo shop's site once (on the Orders & Shipping team, always open)."""
    team = Team.objects.filter(name=DEMO_TEAM).first() or Team.objects.order_by("pk").first()
    if team is None:  # seed_demo always makes teams; nothing to attach a site to otherwise
        return None
    site = Site.objects.filter(key=DEMO_SITE_KEY).first()
    if site is not None:
        return site
    site = create_site(
        actor=None,
        name=DEMO_SITE_NAME,
        allowed_origins=DEMO_ORIGINS,
        team=team,
        prechat_fields=[
            PrechatField.NAME,
            PrechatField.EMAIL,
            PrechatField.TOPIC,
            PrechatField.ORDER,
        ],
        greeting="Hi! Questions about an order, a size or a return? We're here.",
        colour="#0b6e4f",
    )
    # The key is random on purpose for real shops; the demo's is fixed so that the docs can
    # name it and a re-seeded desk keeps the same tag.
    Site.objects.filter(pk=site.pk).update(key=DEMO_SITE_KEY)
    site.key = DEMO_SITE_KEY
    log(f"Chat: the {site.name} site (key {site.key}) on {team.name}; /demo/shop/ embeds it.")
    return site


def served_origins(host: str, port: int) -> list[str]:
    """The origins a browser may use for a server listening on host:port (every interface, or
    the loopback, is reached as 127.0.0.1 or localhost)."""
    if host in {"0.0.0.0", "127.0.0.1", "localhost", "::", "::1"}:  # noqa: S104 - names, not a bind
        return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    return [f"http://{host}:{port}"]


def allow_demo_origins(origins: list[str], *, log: Any = print) -> list[str]:
    """Let the demo site take the widget from these origins too (the run command's own, when
    it serves /demo/shop/ on another port than 8000); returns the origins added."""
    site = Site.objects.filter(key=DEMO_SITE_KEY).first()
    if site is None:
        return []
    missing = [origin for origin in origins if origin not in site.allowed_origins]
    if missing:
        update_site(
            site=site,
            actor=None,
            changes={"allowed_origins": [*site.allowed_origins, *missing]},
        )
        log(f"Chat: the {site.name} site also takes the widget from {', '.join(missing)}.")
    return missing


def make_demo_agent_available(*, log: Any = print) -> None:
    """The tour's `agent` takes chats as soon as their console is open: online, with room for
    a few chats (seed_demo gives its agents random availabilities)."""
    agent = User.objects.filter(username=DEMO_AGENT).select_related("agent_profile").first()
    if agent is None or not hasattr(agent, "agent_profile"):
        return
    changes: dict[str, Any] = {}
    if agent.agent_profile.availability != Availability.ONLINE:
        changes["availability"] = Availability.ONLINE
    if agent.agent_profile.chat_capacity < 1:
        changes["chat_capacity"] = 3
    if changes:
        update_agent_profile(agent=agent, actor=None, changes=changes)
        log(f"Chat: {DEMO_AGENT} is online for chat (the README's tour).")


def on_demo_seeded(sender: Any, **kwargs: Any) -> None:
    log = kwargs.get("log", print)
    add_demo_site(log=log)
    make_demo_agent_available(log=log)
