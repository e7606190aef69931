"""Switch profile: `python -m dictlearn.params.profile ci|default|gpu` (or `make profile-ci`).

Validates profiles/<name>.yaml against the schema, then writes it to params.yaml."""

from __future__ import annotations

import sys
from pathlib import Path

from dictlearn.params import ParamsError, load_params
from dictlearn.core.outputs import write_text


def use_profile(name: str, root: Path = Path(".")) -> Path:
    src = root / "profiles" / f"{name}.yaml"
    if not src.is_file():
        available = sorted(p.stem for p in (root / "profiles").glob("*.yaml"))
        raise ParamsError(f"profiles/{name}.yaml: no such profile; available: {available}")
    load_params(src)
    write_text(root / "params.yaml", src.read_text(encoding="utf-8"))
    return src


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m dictlearn.params.profile <ci|default|gpu>", file=sys.stderr)
        return 2
    try:
        src = use_profile(argv[0])
    except ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"params.yaml ← {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
