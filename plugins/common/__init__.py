"""Helpers every plugin family shares; pure Python, so importing them is free."""
