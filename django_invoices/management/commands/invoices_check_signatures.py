from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_invoices import conf, services


class Command(BaseCommand):
    help = (
        "Tell which signature recipe KUNA Pay signs callbacks with: every plausible one "
        "(hex or base64; SHA-256, 384 or 512; the raw body, its compact re-serialisation "
        "with non-ASCII text kept or escaped, Python's default JSON, or the data object "
        "alone) is tried with each of the account's private keys against the callbacks "
        "refused for a bad signature."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--account", default=conf.DEFAULT_ACCOUNT, help="Merchant account (default: default)."
        )
        parser.add_argument(
            "--limit", type=int, default=200, help="At most this many refused callbacks."
        )

    def handle(self, *args: Any, account: str, limit: int, **options: Any) -> None:
        if limit < 1:
            raise CommandError(_("--limit must be 1 or more."))
        try:
            diagnosis = services.diagnose_signatures(account, limit=limit)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if diagnosis.skipped:
            self.stdout.write(
                ngettext(
                    "%(n)d refused callback was stored cut short and cannot be checked.",
                    "%(n)d refused callbacks were stored cut short and cannot be checked.",
                    diagnosis.skipped,
                )
                % {"n": diagnosis.skipped}
            )
        if not diagnosis.checked:
            self.stdout.write(
                _("No refused callback of account %(account)s to check.") % {"account": account}
            )
            return
        for recipe, count in diagnosis.matches.most_common():
            self.stdout.write(
                ngettext(
                    "%(recipe)s matches %(n)d of %(checked)d refused callback.",
                    "%(recipe)s matches %(n)d of %(checked)d refused callbacks.",
                    diagnosis.checked,
                )
                % {"recipe": recipe, "n": count, "checked": diagnosis.checked}
            )
        for fingerprint, count in diagnosis.keys.items() if diagnosis.key_count > 1 else ():
            if not count:
                continue
            self.stdout.write(
                ngettext(
                    "The key with fingerprint %(key)s signed %(n)d of them.",
                    "The key with fingerprint %(key)s signed %(n)d of them.",
                    count,
                )
                % {"key": fingerprint, "n": count}
            )
        if not diagnosis.matches:
            self.stdout.write(
                _(
                    "No recipe matches: the callbacks were not signed with this account's "
                    "PRIVATE_KEY in any known way (forgeries, or another key)."
                )
            )
            return
        best = diagnosis.matches.most_common(1)[0][0]
        self.stdout.write(
            _('Set DJANGO_INVOICES["CALLBACK_SIGNATURE_RECIPES"] = ["%(recipe)s"].')
            % {"recipe": best}
        )
