"""What every registered domain (dictlearn.domains.DOMAINS) promises, checked once per domain:
its `prepare` schema lives in its own config.py, takes the ci profile's section and refuses
unknown or missing keys; its Domain class implements the interface and escapes every token."""

import importlib
import inspect
import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from conftest import ROOT, section
from dictlearn.domains import DOMAINS, get_domain, prepare_schema
from dictlearn.domains.base import Domain

NAMES = sorted(DOMAINS)


@pytest.mark.parametrize("name", NAMES)
def test_prepare_schema_lives_in_the_domains_config(name):
    schema = prepare_schema(name)
    assert schema.__name__ == DOMAINS[name][1]
    assert schema.__module__ == f"dictlearn.domains.{name}.config"


@pytest.mark.parametrize("name", NAMES)
def test_prepare_schema_validates_the_ci_section(name):
    raw = section("prepare", name)
    cfg = prepare_schema(name).model_validate(raw)
    assert json.loads(cfg.model_dump_json()) == json.loads(json.dumps(raw))


@pytest.mark.parametrize("name", NAMES)
def test_prepare_schema_refuses_an_unknown_key(name):
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        prepare_schema(name).model_validate(section("prepare", name) | {"vocab_sise": 1})


@pytest.mark.parametrize("name", NAMES)
def test_prepare_schema_has_no_defaults(name):
    schema = prepare_schema(name)
    assert all(field.is_required() for field in schema.model_fields.values())
    for key in section("prepare", name):
        raw = section("prepare", name)
        del raw[key]
        with pytest.raises(ValidationError, match=rf"{key}\n\s+Field required"):
            schema.model_validate(raw)


@pytest.mark.parametrize("name", NAMES)
def test_domain_class_implements_the_interface(name):
    domain = get_domain(name)
    cls = type(domain)
    assert isinstance(domain, Domain) and not inspect.isabstract(cls)
    assert cls.__name__ == DOMAINS[name][0]
    assert cls.__module__ == f"dictlearn.domains.{name}.domain"
    assert cls.name == name
    for method in ("prepare", "evaluate_lm", "render_html"):
        assert getattr(cls, method) is not getattr(Domain, method), method
    left, right = cls.min_context
    assert left >= 0 and right >= 0


@pytest.mark.parametrize("name", NAMES)
def test_render_html_escapes_a_script_token(name):
    tokens = ["a", "<script>alert(1)</script>", "b", "&"]
    for focus in range(len(tokens)):
        html = get_domain(name).render_html(tokens, [0.0, 1.0, 0.5, 0.0], focus)
        assert "<script" not in html and "</script" not in html, (name, focus)
    samples_page = get_domain(name).samples_html("<script>alert(1)</script>")
    assert "<script" not in samples_page and "&lt;script&gt;" in samples_page


@pytest.mark.parametrize("lookup", [get_domain, prepare_schema])
def test_unknown_domain_is_named(lookup):
    with pytest.raises(KeyError, match=r"unknown domain 'poetry'; expected one of"):
        lookup("poetry")


def test_validating_params_imports_no_domain_class():
    """Each domain's schema is in its config.py, so check_params depends on no domain.py."""
    code = ("import sys; from dictlearn.params import load_params; "
            "load_params(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.startswith('dictlearn.domains.')))")
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "profiles" / "ci.yaml")],
                          capture_output=True, text=True, check=True)
    loaded = eval(proc.stdout)  # a printed list of module names
    assert not [m for m in loaded if m.endswith(".domain")], loaded
    for name in NAMES:
        assert f"dictlearn.domains.{name}.config" in loaded
        importlib.import_module(f"dictlearn.domains.{name}.config")
