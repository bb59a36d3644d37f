"""Dialogues, one per module, each a declared table of states with async steps and a Mermaid
diagram beside it (DESIGN.md: flows/); ``base`` is the framework, ``bot.dispatcher`` the
registry that routes to them."""
