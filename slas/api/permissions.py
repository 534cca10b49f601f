"""Who may use the SLA endpoints: agents read, managers write; customers never get in."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.selectors import is_agent, may_manage_teams


class AgentsReadManagersWrite(BasePermission):
    """Agents (and managers) read; only managers write; customers get 403 everywhere (an SLA
    setting is nobody's record but the desk's)."""

    message = "Only managers can change SLA settings."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not is_agent(request.user):
            self.message = "Only agents can do this."
            return False
        if request.method in SAFE_METHODS:
            return True
        self.message = "Only managers can change SLA settings."
        return may_manage_teams(request.user)
