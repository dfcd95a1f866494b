"""``python -m carryguard.backtests.cli``: the ``carryguard`` command."""

from carryguard.backtests.cli import main

if __name__ == "__main__":
    main()
