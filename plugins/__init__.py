"""Built-in mlcore plugins. Each registers through the `mlcore.plugins` entry-point group."""
