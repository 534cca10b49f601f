"""Escalation rules over REST: agents read the rules, their firings and the catalog; managers
create, change, delete and dry-run them. Every write goes through slas.services (save_rule
validates against the catalog; a refusal is a 400 naming the place, "conditions.2.value")."""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.selectors import is_agent
from core.api import error_responses
from core.errors import RuleBroken
from slas.models import EscalationRule, RuleFiring, RuleTrigger
from slas.rules.catalog import catalog_as_json
from slas.services import delete_rule, dry_run_rule, save_rule

RULES_TAG = "escalation rules"
READ_ERRORS = error_responses(401, 403, 404, 429)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 429)
FIRINGS_LIMIT = 100


class RuleSerializer(serializers.ModelSerializer):
    conditions = serializers.ListField(
        child=serializers.DictField(),
        help_text='[{"field": "sla.percent_elapsed", "op": "gte", "value": 75, '
        '"target": "first_reply"}] (docs/escalation.md; GET .../rules/catalog/)',
    )
    actions = serializers.ListField(
        child=serializers.DictField(),
        help_text='[{"type": "notify", "to": "team_manager"}, ...]',
    )

    class Meta:
        model = EscalationRule
        fields = [
            "id",
            "name",
            "description",
            "trigger",
            "position",
            "is_active",
            "conditions",
            "actions",
            "version",
            "created_at",
            "updated_at",
        ]


class RuleWriteSerializer(serializers.Serializer):
    """For the schema only: the body goes to save_rule as it is, which checks every key."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    trigger = serializers.ChoiceField(choices=RuleTrigger.choices, required=False)
    position = serializers.IntegerField(required=False, min_value=0)
    is_active = serializers.BooleanField(required=False)
    conditions = serializers.ListField(child=serializers.DictField(), required=False)
    actions = serializers.ListField(child=serializers.DictField())


class DryRunMatchSerializer(serializers.Serializer):
    ticket = serializers.IntegerField()
    reference = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())


class DryRunSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Open tickets it would fire on now.")
    capped = serializers.BooleanField(help_text="True: `total` is a lower bound.")
    matches = DryRunMatchSerializer(many=True)


class FiringSerializer(serializers.ModelSerializer):
    class Meta:
        model = RuleFiring
        fields = ["id", "rule", "rule_version", "ticket", "occasion", "outcome", "done", "error",
                  "fired_at"]  # fmt: skip


class CatalogSerializer(serializers.Serializer):
    conditions = serializers.ListField(
        child=serializers.DictField(),
        help_text="Each field: key, label, operators [{key, label}], kind, choices, model, "
        "time_based, takes_target (+ targets), help.",
    )
    actions = serializers.ListField(
        child=serializers.DictField(), help_text="Each action: key, label, params, help."
    )


class RuleAccess(permissions.BasePermission):
    """Agents read (rules shape what happens to their tickets); managers write and dry-run."""

    READ_ACTIONS = frozenset({"list", "retrieve", "firings", "catalog"})

    def has_permission(self, request: Request, view: Any) -> bool:
        if not is_agent(request.user):
            return False
        return view.action in self.READ_ACTIONS or request.user.is_manager


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise RuleBroken("rule", "A rule is a JSON object.")
    return dict(request.data)


@extend_schema_view(
    list=extend_schema(
        tags=[RULES_TAG],
        summary="List escalation rules (agents)",
        description="Event rules then time rules, each in run order.",
        responses={200: RuleSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        tags=[RULES_TAG],
        summary="Read a rule (agents)",
        responses={200: RuleSerializer, **READ_ERRORS},
    ),
    create=extend_schema(
        tags=[RULES_TAG],
        summary="Create a rule (managers)",
        description="Validated on save: an unknown field, operator or action, a value of the "
        "wrong kind, or an id that names nothing is a 400 naming its place "
        '(`{"conditions.2.value": ["No team with id 9."]}`).',
        request=RuleWriteSerializer,
        responses={201: RuleSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        tags=[RULES_TAG],
        summary="Change a rule (managers)",
        description="Missing keys keep their value. A time rule's alarms are recomputed.",
        request=RuleWriteSerializer(partial=True),
        responses={200: RuleSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(
        tags=[RULES_TAG],
        summary="Delete a rule that never fired (managers)",
        description="A rule that has fired is a 400: deactivate it (`is_active: false`).",
        responses={204: None, **WRITE_ERRORS},
    ),
)
class RuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RuleSerializer
    permission_classes = [RuleAccess]
    pagination_class = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    queryset = EscalationRule.objects.order_by("trigger", "position", "id")

    def create(self, request: Request) -> Response:
        rule = save_rule(actor=cast(User, request.user), rule=None, data=_body(request))
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        rule = save_rule(
            actor=cast(User, request.user), rule=self.get_object(), data=_body(request)
        )
        return Response(RuleSerializer(rule).data)

    def destroy(self, request: Request, pk: str) -> Response:
        delete_rule(actor=cast(User, request.user), rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        tags=[RULES_TAG],
        summary="Dry-run a rule (managers)",
        description="Which open tickets the rule in the body would fire on now, and why (one "
        "reason per condition); nothing is saved or done. Validated like a save. At most "
        "`limit` (default 50, at most 200) matches, the most urgent first.",
        parameters=[OpenApiParameter("limit", int, required=False)],
        request=RuleWriteSerializer,
        responses={200: DryRunSerializer, **WRITE_ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="dry-run", url_name="dry-run")
    def dry_run(self, request: Request) -> Response:
        raw_limit = request.query_params.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 200:
            raise RuleBroken("limit", "A limit is a whole number from 1 to 200.")
        result = dry_run_rule(data=_body(request), limit=int(raw_limit))
        matches = [
            {
                "ticket": match.ticket.pk,
                "reference": match.ticket.reference,
                "subject": match.ticket.subject,
                "status": match.ticket.status,
                "priority": match.ticket.priority,
                "reasons": match.reasons,
            }
            for match in result.matches
        ]
        return Response({"total": result.total, "capped": result.capped, "matches": matches})

    @extend_schema(
        tags=[RULES_TAG],
        summary="A rule's firings, latest first (agents)",
        description=f"At most {FIRINGS_LIMIT}; `?before=<firing id>` pages back.",
        parameters=[OpenApiParameter("before", int, required=False)],
        responses={200: FiringSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], url_path="firings", url_name="firings")
    def firings(self, request: Request, pk: str) -> Response:
        rule = self.get_object()
        firings: QuerySet[RuleFiring] = RuleFiring.objects.filter(rule=rule).order_by("-id")
        before = request.query_params.get("before", "")
        if before:
            if not before.isdigit() or len(before) > 18:
                raise RuleBroken("before", "Give a firing id.")
            firings = firings.filter(pk__lt=int(before))
        return Response(FiringSerializer(firings[:FIRINGS_LIMIT], many=True).data)

    @extend_schema(
        tags=[RULES_TAG],
        summary="Every condition field and action a rule may use (agents)",
        responses={200: CatalogSerializer, **READ_ERRORS},
    )
    @action(detail=False, methods=["get"], url_path="catalog", url_name="catalog")
    def catalog(self, request: Request) -> Response:
        return Response(catalog_as_json())
