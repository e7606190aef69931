"""Every knob the code reads is written in params.yaml: no settings schema has a default, and
every profile validates (a missing key is refused, naming it)."""

import importlib
import pkgutil

import pytest

import dictlearn
from conftest import profile
from dictlearn.core.schema import Strict
from dictlearn.params import ParamsError, parse_params


def all_schemas() -> set[type]:
    for mod in pkgutil.walk_packages(dictlearn.__path__, "dictlearn."):
        importlib.import_module(mod.name)
    found, todo = set(), [Strict]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_no_settings_schema_has_a_default():
    schemas = all_schemas()
    assert len(schemas) > 20  # every owner's schema was found
    hidden = [f"{cls.__module__}.{cls.__name__}.{name}" for cls in schemas
              for name, field in cls.model_fields.items() if not field.is_required()]
    assert hidden == []


@pytest.mark.parametrize("name", ["default", "ci", "gpu"])
def test_dropping_any_knob_of_a_profile_is_refused_naming_it(name):
    raw = profile(name)
    for section in ("sae", "eval_sae", "cache_acts", "report"):
        for key in list(raw[section]):
            broken = profile(name)
            del broken[section][key]
            with pytest.raises(ParamsError, match=rf"{section}\.{key}: missing"):
                parse_params(broken)
