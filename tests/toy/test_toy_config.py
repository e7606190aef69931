"""A bad sweep is rejected before any work, with the param named."""

import pytest
import yaml

from conftest import ROOT
from dictlearn.config import ParamsError, parse_params


def with_sweep(**sweep):
    r = yaml.safe_load((ROOT / "profiles" / "ci.yaml").read_text())
    r["toy"]["sweeps"]["LR1"] = sweep
    return r


@pytest.mark.parametrize("sweep,expected", [
    ({"vary": "temperature", "values": [1.0]}, r"toy\.sweeps\.LR1\.vary: unknown variable"),
    ({"vary": "lr", "values": []}, r"toy\.sweeps\.LR1\.values: .*at least 1"),
    ({"vary": "lr", "eps": 0, "values": [0.01]}, r"toy\.sweeps\.LR1\.eps: .*greater than 0"),
    ({"vary": "lr", "eps": 1.5, "values": [0.01]}, r"toy\.sweeps\.LR1\.eps: .*less than or equal"),
    ({"vary": "eps", "values": [0.5, 2.0]}, r"toy\.sweeps\.LR1: values: 2\.0 is not a valid eps"),
    ({"vary": "eps", "values": [0.0]}, r"toy\.sweeps\.LR1: values: 0\.0 is not a valid eps"),
    ({"vary": "lr", "k": 0, "values": [0.01]}, r"toy\.sweeps\.LR1\.k: .*greater than or equal"),
    ({"vary": "k", "values": [16, 0]}, r"toy\.sweeps\.LR1: values: 0\.0 is not a valid k"),
    ({"vary": "k", "values": [16.5]}, r"toy\.sweeps\.LR1: values: 16\.5 is not a valid k"),
])
def test_bad_sweeps_name_the_param(sweep, expected):
    with pytest.raises(ParamsError, match=expected):
        parse_params(with_sweep(**sweep))


def test_members_fill_in_the_varied_setting():
    p = parse_params(with_sweep(vary="k", lr=0.007, values=[16, 32]))
    members = p.toy.sweeps["LR1"].members()
    assert [m.k for m in members] == [16, 32] and all(m.lr == 0.007 for m in members)
