"""``python -m bot`` is the ``kesu`` command."""

from bot.cli import main

main()
