"""dvc.yaml declares exactly the src modules each stage imports, and params that exist."""

import ast
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from dictlearn.domains import DOMAINS

SRC = ROOT / "src"


def dictlearn_imports(path: Path) -> set[str]:
    """Module names under `dictlearn` imported anywhere in a file (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dictlearn")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dictlearn"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None  # a name imported from a module, not a module


def closure(*files: Path) -> set[Path]:
    todo, seen = list(files), set(files)
    while todo:
        f = todo.pop()
        for name in dictlearn_imports(f):
            parts = name.split(".")
            # importing a.b.c runs a/__init__, a/b/__init__ too
            for i in range(1, len(parts) + 1):
                mf = module_file(".".join(parts[:i]))
                if mf and mf not in seen:
                    seen.add(mf)
                    todo.append(mf)
    return {p for p in seen if SRC in p.parents and not docstring_only(p)}


def docstring_only(path: Path) -> bool:
    """Package markers holding nothing but a docstring cannot change what a stage does."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def stages():
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, st in spec.items():
        body = st.get("do", st)
        yield name, body


@pytest.mark.parametrize("name,body", list(stages()), ids=[n for n, _ in stages()])
def test_stage_declares_the_modules_it_imports(name, body):
    script = ROOT / "stages" / f"{name}.py"
    assert f"stages/{name}.py" in body["deps"]
    # a domain is imported by name at run time (domains.get_domain): a stage on one domain
    # declares domains/${key} or domains/${item.domain}; check the template for every domain
    declared = [ROOT / d.replace("${key}", dom).replace("${item.domain}", dom)
                for d in body["deps"] if d.startswith("src/") for dom in DOMAINS]
    used = closure(script)
    if any(d.startswith("src/dictlearn/domains/${") or d == "src/dictlearn/domains"
           for d in body["deps"]):
        used |= closure(*(SRC / "dictlearn" / "domains" / d / "domain.py" for d in DOMAINS))
    for f in used:
        assert any(f == d or d in f.parents for d in declared), \
            f"{name}: imports {f.relative_to(ROOT)} but dvc.yaml does not list it"
    for d in declared:
        assert any(f == d or d in f.parents for f in used), \
            f"{name}: dvc.yaml lists {d.relative_to(ROOT)} but the stage never imports it"


def test_declared_params_exist_in_every_profile():
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for profile in ("default", "ci", "gpu"):
        params = yaml.safe_load((ROOT / "profiles" / f"{profile}.yaml").read_text())
        for name, body in stages():
            # a stage foreach'd over a params section (toy: ${toy.sweeps}) has one key per entry
            over = str(spec[name].get("foreach", ""))
            keys = ["text"]
            if over.startswith("${") and over != "${models}" and over != "${saes}":
                node = params
                for part in over[2:-1].split("."):
                    node = node[part]
                keys = list(node)
                assert keys, f"{profile}: {name} iterates over an empty {over}"
            for declared in body.get("params", []):
                for k in keys:
                    key = declared.replace("${key}", k).replace("${item.domain}", "text")
                    node = params
                    for part in key.split("."):
                        assert part in node, f"{profile}: {name} declares missing param {key}"
                        node = node[part]
