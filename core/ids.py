"""Row ids that come from outside (query strings, JSON bodies, admin filters): whole positive
numbers that fit a 64-bit column. A bigger number would make the database driver fail (a 500)
instead of matching nothing, and `1.5` must not be read as 1."""

from typing import Any

from django import forms
from django.db.models import Model
from rest_framework import serializers

MAX_ID = 2**63 - 1  # the largest id a 64-bit column holds


class IdField(forms.IntegerField):
    """A form (and django-filter) field for one row id: 1 to MAX_ID."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class IdRelatedField(serializers.PrimaryKeyRelatedField[Model]):
    """A serializer field for one row id: a whole number (or its digits, from a form), never
    1.5 read as 1; an id out of range is "does not exist", like any unknown one."""

    def to_internal_value(self, data: Any) -> Model:
        if isinstance(data, str) and data.strip().isascii() and data.strip().isdigit():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 0 < data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        # The stub types the input as the model instance; DRF is given the pk here.
        return super().to_internal_value(data)  # type: ignore[arg-type]
