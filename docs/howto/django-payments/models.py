# [models]
from django.urls import reverse
from payments.models import BasePayment


class Payment(BasePayment):
    def get_success_url(self):
        return reverse("paid", args=[self.pk])

    def get_failure_url(self):
        return reverse("not-paid", args=[self.pk])


# [end-models]
