"""The one exception every door turns into an error a person can read."""


class RuleBroken(Exception):
    """A request that breaks a business rule; every door shows it as an error on `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message
