"""A bad sweep is rejected before any work, with the param named."""

import pytest

from conftest import profile, section
from dictlearn.params import ParamsError, parse_params
from dictlearn.toy.config import Toy, ToyMember, ToySweep


def with_sweep(**sweep):
    r = profile("ci")
    r["toy"]["sweeps"]["LR1"] = sweep
    return r


@pytest.mark.parametrize("sweep,expected", [
    ({"vary": "temperature", "values": [1.0]}, r"toy\W+sweeps\.LR1\.vary: unknown variable"),
    ({"vary": "lr", "values": []}, r"toy\W+sweeps\.LR1\.values: .*at least 1"),
    ({"vary": "lr", "eps": 0, "values": [0.01]}, r"toy\W+sweeps\.LR1\.eps: .*greater than 0"),
    ({"vary": "lr", "eps": 1.5, "values": [0.01]}, r"toy\W+sweeps\.LR1\.eps: .*less than or equal"),
    ({"vary": "eps", "values": [0.5, 2.0]}, r"toy\W+sweeps\.LR1: values: 2\.0 is not a valid eps"),
    ({"vary": "eps", "values": [0.0]}, r"toy\W+sweeps\.LR1: values: 0\.0 is not a valid eps"),
    ({"vary": "lr", "k": 0, "values": [0.01]}, r"toy\W+sweeps\.LR1\.k: .*greater than or equal"),
    ({"vary": "k", "values": [16, 0]}, r"toy\W+sweeps\.LR1: values: 0\.0 is not a valid k"),
    ({"vary": "k", "values": [16.5]}, r"toy\W+sweeps\.LR1: values: 16\.5 is not a valid k"),
])
def test_bad_sweeps_name_the_param(sweep, expected):
    with pytest.raises(ParamsError, match=expected):
        parse_params(with_sweep(**sweep))


def test_members_fill_in_the_varied_setting():
    p = parse_params(with_sweep(vary="k", lr=0.007, values=[16, 32]))
    members = p.toy.sweep("LR1").members()
    assert [m.k for m in members] == [16, 32] and all(m.lr == 0.007 for m in members)
    defaults = p.toy.defaults
    assert all(m.eps == defaults.eps and m.task == defaults.task for m in members)


def test_a_sweep_is_the_defaults_with_its_overrides():
    p = parse_params(profile("ci"))
    raw = section("toy")
    for name, entry in raw["sweeps"].items():
        sweep = p.toy.sweep(name)
        assert isinstance(sweep, ToySweep)
        expected = raw["defaults"] | entry
        # the varied knob's default is never read: the sweep carries its first value instead
        expected[entry["vary"]] = type(raw["defaults"][entry["vary"]])(entry["values"][0])
        assert sweep.model_dump() == ToySweep.model_validate(expected).model_dump()
        for key in ToyMember.model_fields:
            assert getattr(sweep, key) == expected[key], (name, key)


@pytest.mark.parametrize("key", sorted(ToyMember.model_fields))
def test_defaults_must_hold_every_setting(key):
    r = profile("ci")
    del r["toy"]["defaults"][key]
    with pytest.raises(ParamsError, match=rf"toy\.defaults\.{key}: missing"):
        parse_params(r)


def test_unknown_key_in_a_sweep_is_named():
    with pytest.raises(ParamsError, match=r"toy\W+sweeps\.LR1\.lr_typo: unknown key"):
        parse_params(with_sweep(vary="lr", lr_typo=0.1, values=[0.01]))
    with pytest.raises(ValueError, match=r"sweeps\.LR1\.lr_typo: unknown key"):
        Toy.model_validate(section("toy") | {"sweeps": {"LR1": {"vary": "lr", "lr_typo": 1,
                                                                   "values": [0.01]}}})
