"""``python -m carryguard.backtests.cli``: the ``carryguard`` command."""

from carryguard.backtests.cli import script

if __name__ == "__main__":
    script()
