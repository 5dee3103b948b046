from .invoices_sync import Command as SyncCommand


class Command(SyncCommand):
    help = "The former name of invoices_sync, kept for existing cron lines. " + SyncCommand.help
