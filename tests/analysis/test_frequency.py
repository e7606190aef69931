import pytest
import torch

from dictlearn.analysis.frequency import (frequency_metrics, log_frequency_histogram,
                                          power_law_fit, rank_frequency, rare_cluster)


def test_log_frequency_histogram_counts_every_feature():
    freq = torch.tensor([0.0, 1e-3, 1e-3, 0.5, 1.0])
    rows = log_frequency_histogram(freq, n_bins=10)
    assert sum(r["features"] for r in rows) == 5


def test_an_exact_power_law_fits_with_its_slope_and_r2_one():
    ranks = torch.arange(1, 1001, dtype=torch.float64)
    freq = 0.3 * ranks ** -1.5
    freq = torch.cat([freq[torch.randperm(1000)], torch.zeros(24)])  # order, dead: ignored
    slope, r2 = power_law_fit(freq)
    assert slope == pytest.approx(-1.5, abs=1e-9)
    assert r2 == pytest.approx(1.0, abs=1e-9)


def test_a_cliff_is_no_power_law():
    freq = torch.cat([torch.full((500,), 0.1), torch.full((500,), 1e-4)])
    _, r2 = power_law_fit(freq)
    assert r2 < 0.8


def test_nothing_to_fit_gives_none():
    assert power_law_fit(torch.tensor([0.0, 0.2])) == (None, None)
    assert power_law_fit(torch.tensor([0.2, 0.2, 0.0])) == (None, None)


def test_rank_frequency_is_log_spaced_sorted_and_live_only():
    freq = torch.cat([torch.rand(5000) + 1e-3, torch.zeros(100)])
    rows = rank_frequency(freq, max_points=200)
    assert len(rows) <= 200
    assert rows[0]["rank"] == 1 and rows[-1]["rank"] == 5000
    assert rows[0]["frequency"] == pytest.approx(float(freq.max()), rel=1e-5)
    values = [r["frequency"] for r in rows]
    assert values == sorted(values, reverse=True) and min(values) > 0
    assert rank_frequency(torch.zeros(3)) == []


def test_identical_rare_directions_score_one_and_random_ones_near_zero():
    gen = torch.Generator().manual_seed(1)
    d_sae, d_in = 2000, 256
    W = torch.randn(d_sae, d_in, generator=gen)
    freq = torch.full((d_sae,), 0.01)
    freq[:400] = 5e-5  # rare
    freq[-100:] = 0.0  # dead: neither rare nor in the random draw
    shared = torch.randn(d_in, generator=gen)
    W[:400] = shared * (torch.rand(400, 1, generator=gen) + 0.5)  # one direction, rescaled
    out = rare_cluster(freq, W)
    assert out["rare_count"] == 400
    assert out["rare_mean_cosine"] == pytest.approx(1.0, abs=1e-9)
    assert out["random_mean_cosine"] < 0.5  # part of the draw are the rare features

    W = torch.randn(d_sae, d_in, generator=gen)
    out = rare_cluster(freq, W)
    # unrelated directions score about 1/√400 = 0.05 (the mean includes each one itself)
    assert out["rare_mean_cosine"] < 0.1 and out["random_mean_cosine"] < 0.1
    assert rare_cluster(freq, W) == out  # the random draw is seeded


def test_fewer_than_two_rare_features_give_null_cosines():
    freq = torch.tensor([0.5, 5e-5, 0.0, 0.1])
    m = frequency_metrics(freq, torch.randn(4, 8))
    assert m["rare_count"] == 1
    assert m["rare_mean_cosine"] is None and m["random_mean_cosine"] is None
    assert set(m) == {"rank_frequency_slope", "rank_frequency_r2", "rare_count",
                      "rare_mean_cosine", "random_mean_cosine"}
