"""How traffic split over the links, checked against the weights."""

from collections.abc import Mapping

from multiwan.lab.topology import TrafficResult

#: chi-square critical values by p and degrees of freedom: at p a correct balancer fails the
#: check once in 1/p runs. Tests that check many splits per run use the stricter value.
CHI2_CRITICAL = {
    0.001: {1: 10.83, 2: 13.82, 3: 16.27},
    1e-6: {1: 23.93, 2: 27.63, 3: 30.66},
}


def assert_shares(result: TrafficResult, weights: Mapping[str, int], p: float = 0.001) -> None:
    """No flow failed, every link named in `weights` carried some, none carried flows it was
    not given, and the split matches the weights (chi-square goodness of fit at `p`)."""
    assert result.failed == 0, result
    assert not result.unknown, result
    assert all(result.per_isp[isp] > 0 for isp in weights), f"{result} vs weights {weights}"
    assert sum(result.per_isp[isp] for isp in weights) == result.total, result
    total, weight_sum = result.total, sum(weights.values())
    chi2 = 0.0
    for isp, weight in weights.items():
        expected = total * weight / weight_sum
        chi2 += (result.per_isp[isp] - expected) ** 2 / expected
    assert chi2 < CHI2_CRITICAL[p][len(weights) - 1], f"{result.per_isp} vs weights {weights}"
