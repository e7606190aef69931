"""check_params says what the activation stores will take and refuses a disk too small."""

from collections import namedtuple

import pytest

from conftest import profile
from dictlearn.core.errors import ParamsError
from dictlearn.params import disk
from dictlearn.params.schema import parse_params

Usage = namedtuple("Usage", "total used free")


def test_plan_counts_every_hook_of_every_model():
    p = parse_params(profile("default"))
    plan = disk.acts_plan(p)
    hooks, size = plan["text"]
    assert hooks == {"blocks.1.hook_resid_pre": 192, "blocks.1.mlp.hook_post": 768}
    assert size == p.cache_acts.max_tokens * (2 * (192 + 768) + 2 * 12)
    assert any("cache_acts@text: ≤ 1.94 GB" in line for line in disk.describe(plan))


def test_a_disk_too_small_is_refused_naming_path_and_shortfall(tmp_path, monkeypatch):
    plan = disk.acts_plan(parse_params(profile("default")))
    need = 2 * sum(size for _, size in plan.values())
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda _: Usage(0, 0, need - 10**9))
    with pytest.raises(ParamsError, match=rf"{tmp_path}: the activation stores .* 1.00 GB short"):
        disk.check_disk(plan, tmp_path)
    # stores already written count no more; a cache that links needs one copy only
    for model in plan:
        (tmp_path / "data" / "acts" / model).mkdir(parents=True)
    assert disk.check_disk(plan, tmp_path) == 0
    (tmp_path / "data" / "acts" / "text").rmdir()
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text("[cache]\n    type = hardlink,symlink\n")
    assert disk.check_disk(plan, tmp_path) == plan["text"][1]
