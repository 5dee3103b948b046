from payments.models import BasePayment

SHOP = "https://shop.example"


class Payment(BasePayment):
    def get_success_url(self) -> str:
        return f"{SHOP}/paid/{self.pk}/"

    def get_failure_url(self) -> str:
        return f"{SHOP}/not-paid/{self.pk}/"
