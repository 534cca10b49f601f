"""SLA policies: validation naming the field, the one default, versions, and which policy a
ticket falls under (ordered conditions, first match wins, the default last)."""

import pytest

from core.errors import RuleBroken
from slas.models import PolicyVersion, SlaPolicy
from slas.selectors import policy_for
from slas.services import save_policy
from tests.factories import CustomerFactory, OrganizationFactory, TagFactory, TeamFactory
from tests.slas.sla_helpers import targets
from tickets.models import Channel, TicketType
from tickets.services import open_ticket

pytestmark = pytest.mark.django_db


def policy(manager, calendar, **data):
    return save_policy(
        actor=manager,
        policy=None,
        data={"calendar": calendar, "targets": targets(), **data},
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"conditions": {"tiers": ["platinum"]}}, "conditions.tiers"),
        ({"conditions": {"teams": [999999]}}, "conditions.teams"),
        ({"conditions": {"organizations": [999999]}}, "conditions.organizations"),
        ({"conditions": {"channels": ["pigeon"]}}, "conditions.channels"),
        ({"conditions": {"types": ["rant"]}}, "conditions.types"),
        ({"conditions": {"tags": ["no-such-tag"]}}, "conditions.tags"),
        ({"conditions": {"teams": ["one"]}}, "conditions.teams"),
        ({"conditions": {"tiers": "gold"}}, "conditions.tiers"),
        ({"conditions": {"moon": ["full"]}}, "conditions"),
        ({"conditions": ["gold"]}, "conditions"),
        ({"targets": {"urgent": {"first_reply_minutes": 0}}}, "targets.urgent.first_reply_minutes"),
        (
            {"targets": {"urgent": {"first_reply_minutes": -5}}},
            "targets.urgent.first_reply_minutes",
        ),
        ({"targets": {"urgent": {"resolution_minutes": 1.5}}}, "targets.urgent.resolution_minutes"),
        (
            {"targets": {"urgent": {"next_reply_minutes": True}}},
            "targets.urgent.next_reply_minutes",
        ),
        (
            {"targets": {"urgent": {"first_reply_minutes": "30"}}},
            "targets.urgent.first_reply_minutes",
        ),
        ({"targets": {"urgent": {"lunch_minutes": 30}}}, "targets.urgent"),
        ({"targets": {"asap": {"first_reply_minutes": 30}}}, "targets"),
        ({"targets": {}}, "targets"),
        ({"calendar": 999999}, "calendar"),
        ({"calendar": "24/7"}, "calendar"),
        ({"name": ""}, "name"),
        ({"position": -1}, "position"),
        ({"pause_on_hold": "no"}, "pause_on_hold"),
        ({"flavour": "vanilla"}, "flavour"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(
    manager, always_open, default_policy, tiers, data, field
):
    with pytest.raises(RuleBroken) as refused:
        save_policy(
            actor=manager,
            policy=None,
            data={"name": "Gold", "calendar": always_open, "targets": targets(), **data},
        )

    assert refused.value.field == field
    assert list(SlaPolicy.objects.all()) == [default_policy]


def test_the_first_policy_must_be_the_default(manager, always_open):
    with pytest.raises(RuleBroken) as refused:
        policy(manager, always_open, name="Gold")

    assert refused.value.field == "is_default"


def test_the_default_has_no_conditions_and_cannot_be_archived_or_undefaulted(
    manager, always_open, default_policy, tiers
):
    for data, field in [
        ({"conditions": {"tiers": ["gold"]}}, "conditions"),
        ({"is_active": False}, "is_active"),
        ({"is_default": False}, "is_default"),
    ]:
        with pytest.raises(RuleBroken) as refused:
            save_policy(actor=manager, policy=default_policy, data=data)
        assert refused.value.field == field


def test_a_new_default_takes_over_and_both_get_a_version(manager, always_open, default_policy):
    newer = policy(manager, always_open, name="Everyone", is_default=True)

    default_policy.refresh_from_db()
    assert (newer.is_default, default_policy.is_default) == (True, False)
    assert default_policy.version == 2
    assert default_policy.versions.get(version=2).snapshot["is_default"] is False


def test_each_save_writes_a_snapshot_of_targets_and_versions(manager, always_open, gold_policy):
    save_policy(
        actor=manager,
        policy=gold_policy,
        data={"targets": {"urgent": {"first_reply_minutes": 5}}, "pause_on_hold": True},
    )

    gold_policy.refresh_from_db()
    snapshots = PolicyVersion.objects.filter(policy=gold_policy).order_by("version")
    assert [row.version for row in snapshots] == [1, 2]
    assert snapshots[0].snapshot["targets"]["low"]["first_reply_minutes"] == 15
    assert snapshots[1].snapshot["targets"] == {
        "urgent": {
            "first_reply_minutes": 5,
            "next_reply_minutes": None,
            "resolution_minutes": None,
        }
    }
    assert snapshots[1].snapshot["pause_on_hold"] is True
    assert snapshots[1].snapshot["calendar_version"] == always_open.version
    assert list(gold_policy.targets.values_list("priority", flat=True)) == ["urgent"]


def test_an_unchanged_save_is_no_new_version(manager, gold_policy):
    save_policy(actor=manager, policy=gold_policy, data={"name": "Gold"})

    gold_policy.refresh_from_db()
    assert gold_policy.version == 1


# --- selection --------------------------------------------------------------------------------


@pytest.fixture
def ticket_for(agent):
    def make(customer=None, **fields):
        return open_ticket(
            customer=customer or CustomerFactory(),
            subject="Help",
            body="Please",
            actor=agent,
            **fields,
        )

    return make


def test_no_policy_means_no_clocks_and_no_sla(ticket_for):
    ticket = ticket_for()

    assert policy_for(ticket) is None
    ticket.refresh_from_db()
    assert (ticket.sla_state, ticket.sla_due_at, ticket.reply_promise) == ("", None, "")


def test_each_condition_selects_its_policy(manager, always_open, default_policy, tiers, ticket_for):
    acme = OrganizationFactory(name="Acme")
    night = TeamFactory(name="Night")
    TagFactory(name="vip")
    by = {
        "tier": policy(
            manager, always_open, name="Gold", position=1, conditions={"tiers": ["gold"]}
        ),
        "org": policy(
            manager, always_open, name="Acme", position=2, conditions={"organizations": [acme.pk]}
        ),
        "team": policy(
            manager, always_open, name="Night", position=3, conditions={"teams": [night.pk]}
        ),
        "channel": policy(
            manager, always_open, name="Phone", position=4, conditions={"channels": ["phone"]}
        ),
        "type": policy(
            manager, always_open, name="Incidents", position=5, conditions={"types": ["incident"]}
        ),
        "tags": policy(manager, always_open, name="VIP", position=6, conditions={"tags": ["vip"]}),
    }

    assert policy_for(ticket_for(CustomerFactory(tier=tiers["gold"]))) == by["tier"]
    assert policy_for(ticket_for(CustomerFactory(organization=acme))) == by["org"]
    assert policy_for(ticket_for(team=night)) == by["team"]
    assert policy_for(ticket_for(channel=Channel.PHONE)) == by["channel"]
    assert policy_for(ticket_for(type=TicketType.INCIDENT)) == by["type"]
    assert policy_for(ticket_for(tags=["vip", "refund"])) == by["tags"]
    assert policy_for(ticket_for()) == default_policy


def test_first_match_by_position_wins_and_all_conditions_must_hold(
    manager, always_open, default_policy, tiers, ticket_for
):
    phone_gold = policy(
        manager,
        always_open,
        name="Gold phone",
        position=5,
        conditions={"tiers": ["gold"], "channels": ["phone"]},
    )
    gold = policy(manager, always_open, name="Gold", position=7, conditions={"tiers": ["gold"]})
    gold_customer = CustomerFactory(tier=tiers["gold"])

    assert policy_for(ticket_for(gold_customer, channel=Channel.PHONE)) == phone_gold
    assert policy_for(ticket_for(gold_customer, channel=Channel.EMAIL)) == gold

    save_policy(actor=manager, policy=gold, data={"position": 1})
    assert policy_for(ticket_for(gold_customer, channel=Channel.PHONE)) == gold


def test_an_archived_policy_matches_nothing(
    manager, gold_policy, default_policy, tiers, ticket_for
):
    save_policy(actor=manager, policy=gold_policy, data={"is_active": False})

    assert policy_for(ticket_for(CustomerFactory(tier=tiers["gold"]))) == default_policy
