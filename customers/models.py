"""The people a shop sells to, the companies they buy for, and the loyalty tier they have earned."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class Tag(models.Model):
    """A label shared by customers and tickets (`vip-complaint`, `refund`)."""

    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tier(models.Model):
    """A loyalty tier. A higher `rank` buys faster service (SLA targets attach to it later)."""

    name = models.CharField(max_length=50, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    rank = models.PositiveSmallIntegerField(unique=True, help_text="0 is the base tier.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class Organization(models.Model):
    name = models.CharField(max_length=200, unique=True)
    domain = models.CharField(max_length=253, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    # A customer may have no login at all (they wrote by email or chatted as a guest).
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customer",
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(
        max_length=100,
        null=True,
        blank=True,
        unique=True,
        help_text="The shop platform's id for this customer.",
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="customers"
    )
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="customers")
    lifetime_value = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    tags = models.ManyToManyField(Tag, related_name="customers", blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="customer_email_unique_ci",
                violation_error_message="A customer with this email already exists.",
            )
        ]
        indexes = [
            models.Index(fields=["tier", "name"]),
            models.Index(fields=["organization"]),
            # The customer list's default order (and its pagination) walks this index.
            models.Index(fields=["name", "id"], name="customer_name_id"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"
