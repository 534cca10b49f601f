"""Every REST endpoint under /api/v1/, registered on one router."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter()

urlpatterns = [*router.urls]
