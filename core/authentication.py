"""How API requests say who they are (its own module: DRF imports it while loading settings)."""

from typing import TYPE_CHECKING, Any, cast

from rest_framework import authentication, exceptions

if TYPE_CHECKING:  # a models module: not importable while settings load
    from rest_framework.authtoken.models import Token


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token check, loading the user's agent profile and customer record in the same
    query: every endpoint asks "agent or customer?" and would otherwise pay one more query."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        model = cast("type[Token]", self.get_model())
        try:
            token = model.objects.select_related(
                "user", "user__agent_profile", "user__customer"
            ).get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token
