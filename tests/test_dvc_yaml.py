"""dvc.yaml declares exactly the src modules each stage imports, and params that exist."""

import ast
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from dictlearn.domains import DOMAINS

SRC = ROOT / "src"


def lazy_getattr(node: ast.AST) -> bool:
    """A module-level `__getattr__` (PEP 562): it runs only when a missing attribute is read
    (`from dictlearn import open_run`), never on import, so its imports are not a stage's."""
    return isinstance(node, ast.FunctionDef) and node.name == "__getattr__"


def dictlearn_imports(path: Path) -> set[str]:
    """Module names under `dictlearn` imported anywhere in a file (functions included, lazy
    module attributes not)."""
    found = set()
    body = [n for n in ast.parse(path.read_text()).body if not lazy_getattr(n)]
    for node in (n for top in body for n in ast.walk(top)):
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
    """Package markers holding nothing but a docstring (and lazy attributes, which run only
    when read) cannot change what a stage does."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) or lazy_getattr(n)
               for n in body)


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
    if "src/dictlearn/params" in body["deps"]:  # validating prepare.<d> imports its schema
        used |= closure(*(SRC / "dictlearn" / "domains" / d / "config.py" for d in DOMAINS))
    for f in used:
        assert any(f == d or d in f.parents for d in declared), \
            f"{name}: imports {f.relative_to(ROOT)} but dvc.yaml does not list it"
    for d in declared:
        assert any(f == d or d in f.parents for f in used), \
            f"{name}: dvc.yaml lists {d.relative_to(ROOT)} but the stage never imports it"


SECTIONS = ("fetch_corpus", "prepare", "models", "train_lm", "cache_acts", "sae", "saes",
            "families", "eval_sae", "universality", "culture_loop", "report", "toy")


def test_check_params_declares_every_section_and_others_read_only_their_settings():
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert tuple(spec["check_params"]["params"]) == SECTIONS
    for profile in ("default", "ci", "gpu"):
        params = yaml.safe_load((ROOT / "profiles" / f"{profile}.yaml").read_text())
        assert tuple(params) == SECTIONS, f"{profile}: sections differ from check_params'"
    for name, body in stages():
        if name == "check_params":
            continue
        assert "params" not in body, f"{name}: reads its settings file, not params.yaml"
        settings = [d for d in body["deps"] if d.startswith("data/params/")]
        assert settings == [f"data/params/{name}/${{key}}.json" if "foreach" in spec[name]
                            else f"data/params/{name}.json"], name
        assert f"--settings {settings[0]}" in " ".join(body["cmd"].split()), name


def expand(profile: str = "default") -> dict[str, list[str]]:
    """Every stage instance of dvc.yaml with its deps, foreach items filled in."""
    params = yaml.safe_load((ROOT / "profiles" / f"{profile}.yaml").read_text())
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, st in spec.items():
        if "foreach" not in st:
            out[name] = st["deps"]
            continue
        over = st["foreach"]
        if isinstance(over, str):
            node = params
            for part in over[2:-1].split("."):
                node = node[part]
            over = node
        for key, item in over.items():
            deps = []
            for d in st["do"]["deps"]:
                d = d.replace("${key}", key)
                for field, value in (item or {}).items():
                    d = d.replace(f"${{item.{field}}}", str(value))
                deps.append(d)
            out[f"{name}@{key}"] = deps
    return out


def rerun_by(module: str, profile: str = "default") -> set[str]:
    """The stages whose declared deps contain `module` (what DVC re-runs when it changes,
    besides what consumes their outputs)."""
    path = Path(module)
    return {name for name, deps in expand(profile).items()
            if any(path == Path(d) or Path(d) in path.parents for d in deps)}


def every(stage: str, profile: str = "default") -> set[str]:
    return {n for n in expand(profile) if n.split("@")[0] == stage}


@pytest.mark.parametrize("module, expected", [
    # one module per package: an edit re-runs exactly the stages that import it
    ("src/dictlearn/toy/model.py", lambda: every("toy")),
    ("src/dictlearn/toy/config.py", lambda: every("toy") | {"check_params"}),
    ("src/dictlearn/domains/strokes/fonts.py",
     lambda: {"prepare@strokes", "train_lm@strokes", "eval_sae@strokes", "report"}),
    ("src/dictlearn/domains/culture/tasks.py",
     lambda: {"prepare@culture", "culture_loop", "report"} | {
         f"{s}@culture-{i}" for s in ("train_lm", "eval_sae") for i in range(5)}),
    ("src/dictlearn/lm/train.py", lambda: every("train_lm") | {"culture_loop"}),
    ("src/dictlearn/acts/store.py",
     lambda: every("cache_acts") | every("train_sae") | {"check_params"}),
    ("src/dictlearn/sae/topk.py", lambda: every("train_sae") | every("eval_sae")
     | {"check_params", "universality", "families"}),
    ("src/dictlearn/analysis/frontier.py", lambda: {"frontier"}),
    # the family schema sits beside its code: check_params validates with it (cheaply)
    ("src/dictlearn/analysis/family.py", lambda: {"check_params", "families"}),
    ("src/dictlearn/report/families.py", lambda: {"report"}),
    ("src/dictlearn/report/build.py", lambda: {"report"}),
    ("src/dictlearn/params/schema.py", lambda: {"check_params"}),
    ("src/dictlearn/corpus/fetch.py", lambda: {"check_params", "fetch_corpus"} | every("prepare")
     | every("train_lm") | every("eval_sae") | {"report"}),
])
def test_an_edit_reruns_only_the_stages_that_import_it(module, expected):
    assert (ROOT / module).is_file()
    assert rerun_by(module) == expected()
