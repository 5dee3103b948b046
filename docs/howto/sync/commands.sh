# The sync guide's commands, included into docs/howto/sync.rst and run, in this order,
# by tests/test_guide_sync.py; their output is output.txt's.

# [plain]
python manage.py invoices_sync
# [end-plain]

# [by-hand]
python manage.py invoices_sync --older-than 0 --dry-run
python manage.py invoices_sync --older-than 0
# [end-by-hand]
