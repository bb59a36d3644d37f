"""Dialogues, one per module, each a small table of states (DESIGN.md: flows/)."""
