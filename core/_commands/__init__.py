"""Command implementations behind `core.cli`; each module is imported only when its command runs."""
