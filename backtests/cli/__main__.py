"""``python -m carryguard.backtests.cli``: the ``carryguard`` command."""

from carryguard.backtests.cli import main

main()
