"""Units matched across models by activation correlation."""

import torch

from dictlearn.analysis.universality import best_matches, standardize, universality


def test_a_permuted_rescaled_copy_matches_unit_for_unit():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(500, 40, generator=gen).relu()
    perm = torch.randperm(40, generator=gen)
    b = a[:, perm] * 3.0 + 1.0  # correlation ignores scale and offset
    corr, where = best_matches(standardize(a), standardize(b), block=16)
    assert torch.allclose(corr, torch.ones(40), atol=1e-5)
    assert torch.equal(perm[where], torch.arange(40))


def test_universal_share_counts_units_matched_in_every_other_model():
    gen = torch.Generator().manual_seed(1)
    shared = torch.randn(800, 10, generator=gen)
    # models 0 and 1 share all ten units; model 2 shares only the first five
    m2 = torch.cat([shared[:, :5], torch.randn(800, 5, generator=gen)], dim=1)
    live = [torch.ones(10, dtype=torch.bool)] * 3
    res = universality([shared, shared.clone(), m2], live, threshold=0.5)
    assert res["universal_share_per_model"][:2] == [0.5, 0.5]
    assert res["universal_share_per_model"][2] == 0.5
    # only live units count: with model 0's last five silent, all its live units are shared
    live0 = torch.arange(10) < 5
    assert universality([shared, shared, m2], [live0, *live[1:]], 0.5)[
        "universal_share_per_model"][0] == 1.0
