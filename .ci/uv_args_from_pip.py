"""uv's arguments for pip's effective configuration, one a line, for `uv pip install`.

uv reads no pip.conf and no PIP_* variable: without this it would miss the machine's own indexes,
find-links (the pinned CPU torch wheel) and constraints, and resolve something pip would not.
`--index-strategy unsafe-best-match` is pip's rule: the best version over every index (uv's default
takes the first index that has the package at all)."""

import subprocess
import sys

# pip's precedence, lowest first: the global file, the user's, the venv's (site), then PIP_* variables.
ORDER = ("global", "user", "site", ":env:")
OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
           "constraint": "--constraint"}

listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                        check=True).stdout
found: dict[str, tuple[int, str]] = {}
for line in listed.splitlines():
    name, _, value = line.partition("=")
    variant, _, key = name.rpartition(".")
    if key in OPTIONS and variant in ORDER:
        rank = ORDER.index(variant)
        if key not in found or rank >= found[key][0]:
            found[key] = (rank, value.strip().strip("'\""))
print("--index-strategy")
print("unsafe-best-match")
for key, (_, value) in found.items():
    for item in value.split():
        print(OPTIONS[key])
        print(item)
