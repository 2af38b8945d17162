"""A plugin module that cannot be imported: listing must skip it, running must explain it."""

import this_module_does_not_exist  # noqa: F401
