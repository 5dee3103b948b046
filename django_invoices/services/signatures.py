"""Which signature recipe the provider uses, told from the callbacks we refused."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .. import conf
from ..models import CallbackEvent
from ..signing import ALL_RECIPES, signed_by


@dataclass
class Diagnosis:
    """``matches``: recipe name -> how many stored callbacks it verifies; ``keys``: key
    fingerprint -> how many of them that key signed (several while keys rotate)."""

    checked: int = 0
    skipped: int = 0
    matches: Counter[str] = field(default_factory=Counter)
    unmatched: int = 0
    keys: Counter[str] = field(default_factory=Counter)
    key_count: int = 1


def diagnose_signatures(account: str = conf.DEFAULT_ACCOUNT, *, limit: int = 200) -> Diagnosis:
    """Try every plausible recipe (``signing.ALL_RECIPES``) with each of the account's
    private keys on its newest refused callbacks that kept their whole body and signature.

    A callback cut short when it was stored (``REJECTED_BODY_KEEP``) cannot be checked
    and counts as skipped.
    """
    keys = conf.get_account(account).private_keys
    # Every key counted from nought, newest first: the report keeps the keys' order.
    diagnosis = Diagnosis(key_count=len(keys))
    diagnosis.keys.update(dict.fromkeys(map(conf.key_fingerprint, keys), 0))
    refused = (
        CallbackEvent.objects.filter(
            account=account, state=CallbackEvent.State.REJECTED, verified=False
        )
        .exclude(signature="")
        .order_by("-received_at", "-pk")
        .only("body", "body_size", "signature")[:limit]
    )
    for event in refused:
        body = event.body.encode("utf-8")
        if event.body_size is not None and event.body_size != len(body):
            diagnosis.skipped += 1
            continue
        diagnosis.checked += 1
        # In ALL_RECIPES' order, so of recipes matching as often the likelier is named.
        found = [
            (str(recipe), conf.key_fingerprint(key))
            for key in keys
            for recipe in ALL_RECIPES
            if signed_by(key, body, event.signature, recipe)
        ]
        if found:
            diagnosis.matches.update(list(dict.fromkeys(recipe for recipe, _key in found)))
            diagnosis.keys.update(list(dict.fromkeys(key for _recipe, key in found)))
        else:
            diagnosis.unmatched += 1
    return diagnosis
