"""`core plugins new NAME`: a new plugin with the recommended layout that passes
`core plugins check` and runs with `core run` on its example spec, with no edits.

In this repository it goes to `plugins/NAME/` and is registered in `pyproject.toml`;
with `--dest DIR` it is a package of its own (`DIR/pyproject.toml`, `DIR/NAME/`,
`DIR/tests/`) with its own entry point. The generated plugin does small, real work
with the standard library (it learns a threshold on synthetic data), so every
convention is exercised before the author swaps in their model.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

from core._errors import BadInput
from core._files import atomic_write_text

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
TEMPLATES = Path(__file__).parent / "templates" / "plugin"
ENTRY_SECTION = '[project.entry-points."mlcore.plugins"]'


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "Plugin"


def scaffold(name: str, *, dest: str | None = None, repo_root: Path | None = None) -> list[Path]:
    """Write the plugin; returns the files written. Raises BadInput for a bad name or place."""
    if not NAME_RE.match(name) or keyword.iskeyword(name):
        raise BadInput(f"plugin name '{name}' must be lower_snake_case: a letter, then letters, digits or _ "
                       "(it is the package name and the plugin key)")
    from core._registry import Registry

    if name in Registry().keys():
        raise BadInput(f"a plugin '{name}' is already installed: pick another name")
    if dest is None:
        root = repo_root or _checkout_root()
        package_dir, package = root / "plugins" / name, f"plugins.{name}"
        tests_dir = package_dir / "tests"
    else:
        root = Path(dest).expanduser().resolve()
        package_dir, package = root / name, name
        tests_dir = root / "tests"
    if package_dir.exists():
        raise BadInput(f"'{package_dir}' already exists: remove it or pick another name")
    values = {"name": name, "package": package, "cls": class_name(name), "dist": f"mlcore-{name.replace('_', '-')}",
              # import blocks as isort (ruff's I001) groups them: in the checkout `core` and `plugins` are
              # first-party together; in a package of its own `core` sits with pytest, the package apart
              "core_gap": "\n" if dest is None else "", "own_gap": "" if dest is None else "\n"}
    written = []
    for template in sorted(TEMPLATES.rglob("*.tmpl")):
        rel = template.relative_to(TEMPLATES).as_posix().removesuffix(".tmpl")
        if rel == "pyproject.toml" and dest is None:
            continue
        target = {"pyproject.toml": root / "pyproject.toml"}.get(rel)
        if target is None:
            target = (tests_dir / rel.removeprefix("tests/").replace("NAME", name)) if rel.startswith("tests/") \
                else package_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(template.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
        written.append(target)
    if dest is None:
        written.append(_register(root / "pyproject.toml", name, f"{package}.plugin:{values['cls']}"))
    return written


def _checkout_root() -> Path:
    """The repository mlcore is installed from in editable mode; plugins/ lives there."""
    import plugins

    root = Path(plugins.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file() or "site-packages" in root.parts:
        raise BadInput("mlcore is not installed from a checkout (pip install -e .): pass --dest DIR to make a "
                       "plugin package of its own")
    return root


def _register(pyproject: Path, key: str, target: str) -> Path:
    """Add `key = "target"` to the mlcore.plugins entry points of the checkout's pyproject.toml."""
    text = pyproject.read_text(encoding="utf-8")
    if ENTRY_SECTION not in text:
        raise BadInput(f"{pyproject} has no {ENTRY_SECTION} section to register the plugin in")
    head, _, tail = text.partition(ENTRY_SECTION + "\n")
    lines = tail.split("\n")
    end = next((i for i, line in enumerate(lines) if not line.strip() or line.startswith("[")), len(lines))
    lines.insert(end, f'{key} = "{target}"')
    # The checkout's own pyproject.toml is rewritten whole or not at all, whatever stops this process.
    atomic_write_text(pyproject, head + ENTRY_SECTION + "\n" + "\n".join(lines))
    return pyproject
