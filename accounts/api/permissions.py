"""Who may use which part of the API. The rules themselves are accounts.selectors functions."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.selectors import is_agent, may_manage_teams


class IsAgent(BasePermission):
    """Agents, managers and admins; customers get 403."""

    message = "Only agents can do this."

    def has_permission(self, request, view) -> bool:
        return is_agent(request.user)


class IsAgentForCollection(BasePermission):
    """Lists and creation are for agents (403 for anyone else). Single records are left to
    the view's queryset, so a customer asking for one gets the same 404 whether it exists or
    not."""

    message = "Only agents can do this."

    def has_permission(self, request, view) -> bool:
        if getattr(view, "detail", False):
            return True
        return is_agent(request.user)


class IsManagerOrReadOnly(BasePermission):
    """Any agent reads; managers write."""

    message = "Only managers can change teams."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or may_manage_teams(request.user)


class IsManager(BasePermission):
    """Managers (and admins) only; agents and customers get 403."""

    message = "Only managers can do this."

    def has_permission(self, request, view) -> bool:
        return may_manage_teams(request.user)
