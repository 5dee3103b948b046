"""Who may do what through the REST API."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from ..models import Invoice, Order


class IsOrderOwnerOrStaff(BasePermission):
    """A signed-in customer may pay for the orders linked to them; staff for any order.

    Object-level only: pair it with ``IsAuthenticated`` (the default
    ``API_PERMISSION_CLASSES`` do). The object is an ``Order`` or an ``Invoice``.
    """

    message = _("You may only pay for your own orders.")

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if user.is_staff:
            return True
        order = obj.order if isinstance(obj, Invoice) else obj
        return isinstance(order, Order) and order.user_id is not None and order.user_id == user.pk
