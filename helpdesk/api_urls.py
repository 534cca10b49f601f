"""Every REST endpoint under /api/v1/, on one router. Each app lists its own routes in
`<app>/api/urls.py`."""

from rest_framework.routers import DefaultRouter

from accounts.api import urls as accounts_urls
from chat.api import urls as chat_urls
from customers.api import urls as customers_urls
from slas.api import urls as slas_urls
from tickets.api import urls as tickets_urls

router = DefaultRouter()
for app_urls in (accounts_urls, customers_urls, tickets_urls, slas_urls, chat_urls):
    for prefix, viewset, basename in app_urls.routes:
        router.register(prefix, viewset, basename=basename)

urlpatterns = [
    *accounts_urls.urlpatterns,
    *customers_urls.urlpatterns,
    *tickets_urls.urlpatterns,
    *slas_urls.urlpatterns,
    *chat_urls.urlpatterns,
    *router.urls,
]
