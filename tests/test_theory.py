"""The theory tools: packing bounds against brute force, densification against all b-subsets,
per-batch death statistics on hand-made clouds, the guideline's sanity cases, `corel guide`."""
import itertools

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform

from corel.apps.cli import main
from corel.topology.h0 import vr_persistence_0d
from corel.apps.theory import (batch_death_stats, batch_size_guideline, densification_check, lattice_packing,
                          max_codes, min_batch_size, min_beta_over_alpha, packing_bounds)


# ----------------------------------------------------------------------------- packing
def _max_independent(adj: np.ndarray) -> int:
    """Largest set of vertices with no edge between them (branch and bound; tiny graphs only)."""
    best = 0

    def grow(candidates: list[int], size: int):
        nonlocal best
        if size + len(candidates) <= best:
            return
        if not candidates:
            best = size
            return
        v, rest = candidates[0], candidates[1:]
        grow([u for u in rest if not adj[v, u]], size + 1)
        grow(rest, size)

    grow(list(range(len(adj))), 0)
    return best


def _grid_packing(d: int, alpha: float, beta: float, step: float) -> int:
    """Most points of the grid step * Z^d in the closed l1 ball of radius beta pairwise >= alpha apart."""
    r = int(round(beta / step))
    pts = np.array([p for p in itertools.product(range(-r, r + 1), repeat=d) if sum(map(abs, p)) <= r]) * step
    dist = squareform(pdist(pts, "cityblock"))
    return _max_independent((dist < alpha - 1e-9) & (dist > 0))


@pytest.mark.parametrize("ratio", [1.0, 1.5, 2.0, 2.5, 3.0])
def test_packing_is_exact_in_one_dimension(ratio):
    # An interval of length 2 beta: the greedy left-to-right placement at spacing alpha is optimal.
    alpha, beta = 1.0, ratio
    greedy = len(np.arange(-beta, beta + 1e-9, alpha))
    assert packing_bounds(1, alpha, beta) == (greedy, greedy)
    assert _grid_packing(1, alpha, beta, step=0.25) == greedy


@pytest.mark.parametrize("d, alpha, beta", [(2, 1.0, 1.0), (2, 1.0, 1.5), (2, 1.0, 2.0), (3, 1.0, 1.0)])
def test_packing_bounds_bracket_a_brute_force_packing(d, alpha, beta):
    lower, upper = packing_bounds(d, alpha, beta)
    # On the grid (alpha/2) Z^d, which holds the lattice packing, the best packing is found exactly.
    best_on_grid = _grid_packing(d, alpha, beta, step=alpha / 2)
    assert lower <= best_on_grid <= upper


def test_two_dimensions_at_alpha_equal_beta_is_exactly_nine():
    assert packing_bounds(2, 2.0, 2.0) == (9, 9)
    assert packing_bounds(10, 2.0, 2.0) == (201, 3 ** 10)


@pytest.mark.parametrize("d, alpha, beta", [(2, 1.0, 1.0), (3, 2.0, 2.0), (3, 1.0, 2.5), (5, 2.0, 2.0), (1, 1.0, 2.5)])
def test_lattice_packing_realises_the_lower_bound(d, alpha, beta):
    pts = lattice_packing(d, alpha, beta)
    assert len(pts) == packing_bounds(d, alpha, beta)[0]
    assert np.abs(pts).sum(1).max() <= beta + 1e-12
    assert pdist(pts, "cityblock").min() >= alpha - 1e-12


def test_bounds_scale_invariant_and_monotone():
    assert packing_bounds(4, 1.0, 3.0) == packing_bounds(4, 2.0, 6.0)
    uppers = [packing_bounds(d, 2.0, 2.0)[1] for d in range(1, 12)]
    assert uppers == sorted(uppers) and uppers[-1] == 3 ** 11


# ----------------------------------------------------------------------------- guideline
def test_guideline_sanity_cases():
    paper = batch_size_guideline(10, 2.0, 2.0, batch_size=100, n_codes=50_000)     # 16 x 10, B = 100, CIFAR-10
    assert not paper.ruled_out and paper.required == 49_902 and paper.packing_upper == 59_049
    assert not batch_size_guideline(10, 1.9, 2.1, 100, 50_000).ruled_out
    toy = batch_size_guideline(2, 1.9, 2.1, batch_size=50, n_codes=1_500)            # the toy: 2-D, b = 50
    assert toy.ruled_out and toy.min_beta_over_alpha > 18
    assert batch_size_guideline(2, 2.0, 2.0 * 19, 50, 1_500).ruled_out is False


def test_guideline_functions_agree():
    for d, a, b_, n in [(2, 1.0, 1.0, 1500), (5, 2.0, 2.0, 300), (10, 2.0, 2.5, 50_000)]:
        g = batch_size_guideline(d, a, b_, 50, n)
        assert g.max_codes == max_codes(d, a, b_, 50)
        assert g.min_batch_size == min_batch_size(d, a, b_, n)
        assert g.ruled_out == (n > g.max_codes) == (g.min_batch_size > 50)
        # the smallest beta/alpha not ruled out sits exactly on the boundary of the volume bound
        r = min_beta_over_alpha(d, n, 50)
        assert (2 * r + 1) ** d == pytest.approx(n - 50 + 2)


def test_guideline_rejects_bad_input():
    with pytest.raises(ValueError, match="alpha must be <= beta"):
        batch_size_guideline(2, 3.0, 2.0)
    with pytest.raises(ValueError, match="'d' parameter must be an int >= 1"):
        packing_bounds(0, 1.0, 1.0)
    with pytest.raises(ValueError, match="'alpha' parameter of packing_bounds"):
        packing_bounds(2, -1.0, 1.0)


# ----------------------------------------------------------------------------- densification
def _all_subset_deaths(points: np.ndarray, b: int) -> torch.Tensor:
    subsets = torch.tensor(list(itertools.combinations(range(len(points)), b)))
    return vr_persistence_0d(torch.as_tensor(points)[subsets], "l1").deaths          # (subsets, b-1)


@pytest.mark.parametrize("seed", range(12))
def test_densification_theorem_against_all_b_subsets(seed):
    rng = np.random.default_rng(seed)
    n, b = 9, 4
    scales = rng.uniform(0.1, 3.0, size=(n, 1))                                          # multi-scale clouds
    points = rng.standard_normal((n, 2)) * scales
    deaths = _all_subset_deaths(points, b)
    beta = float(deaths.max())
    res = densification_check(points, beta, b)
    assert res.bound == n - b + 1
    assert res.fraction_satisfied[0] == 1.0 and res.min_count[0] >= n - b + 1
    # the smallest death over all b-subsets is the smallest pairwise distance
    assert res.min_distance[0] == pytest.approx(float(deaths.min()), rel=1e-6)


def test_densification_can_fail_when_the_hypothesis_does():
    # Two far clusters of 5: a 4-subset taking 1 point of one cluster and 3 of the other has a death
    # of ~100, so at beta = 1 the hypothesis fails, and so does the conclusion (4 others < bound 7).
    points = np.concatenate([np.zeros((5, 2)) + np.arange(5)[:, None] * [0.1, 0], np.full((5, 2), 100.0)])
    res = densification_check(points, 1.0, 4)
    assert res.bound == 7 and res.fraction_satisfied[0] == 0.0 and res.min_count[0] == 4
    # per branch: the second branch is the first scaled by 10
    two = np.concatenate([points, 10 * points], axis=1)
    per_branch = densification_check(two, 1.0, 4, n_branches=2)
    assert per_branch.counts.shape == (2, 10)
    assert per_branch.min_distance[1] == pytest.approx(10 * per_branch.min_distance[0])


def test_densification_needs_more_codes_than_the_batch():
    with pytest.raises(ValueError, match="N > b"):
        densification_check(np.zeros((5, 2)), 1.0, 5)


# ----------------------------------------------------------------------------- batch statistics
def test_batch_death_stats_on_a_line_and_two_branches():
    line = torch.arange(20.0)[:, None] * 2.0                           # one batch of everything: all deaths 2
    s = batch_death_stats(line, batch_size=20)
    assert s.alpha.shape == (1, 1)
    assert s.alpha[0, 0] == s.epsilon[0, 0] == s.beta[0, 0] == 2.0 and s.std[0, 0] == 0.0

    z = torch.randn(300, 3, dtype=torch.float64)
    both = torch.cat([z, 3 * z], dim=1)                                  # branch 2 = branch 1 scaled by 3
    s = batch_death_stats(both, batch_size=50, n_branches=2, n_batches=14, seed=1)
    assert s.alpha.shape == (14, 2)                                      # 6 per pass: three passes drawn
    np.testing.assert_allclose(s.epsilon[:, 1], 3 * s.epsilon[:, 0], rtol=1e-9)
    assert np.all(s.alpha <= s.epsilon) and np.all(s.epsilon <= s.beta)
    # the first batch is the first b codes of the seeded permutation
    first = both[torch.from_numpy(np.random.default_rng(1).permutation(300)[:50])][:, :3]
    assert s.beta[0, 0] == pytest.approx(float(vr_persistence_0d(first, "l1").deaths.max()))


def test_batch_death_stats_rejects_a_batch_larger_than_the_codes():
    with pytest.raises(ValueError, match="batch_size"):
        batch_death_stats(torch.randn(10, 2), batch_size=11)


# ----------------------------------------------------------------------------- corel guide
def test_guide_command_prints_and_plots(tmp_path, capsys):
    assert main(["guide", "--d-min", "2", "--d-max", "10", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()
            if line.startswith("| ") and "|---" not in line}
    assert "| ruled out |" in rows["2"] and "not ruled out" in rows["10"]
    assert (tmp_path / "guide.png").stat().st_size > 1000 and (tmp_path / "guide.md").is_file()
    assert main(["guide", "--alpha", "3", "--beta", "2", "--out-dir", str(tmp_path)]) == 2
