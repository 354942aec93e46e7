"""Process limits for one limit period, computed as NHSRplotthedots 0.2.2 does.

``ptd_spc_standard`` (R/ptd_spc_standard.R): the mean and the average moving range (AMR)
over the period's baseline (all its points, or the first ``fix_after`` of them); moving
ranges at or above 3.267 x AMR are dropped and the AMR is computed once more (unless
screening is off, which is what the Making Data Count Excel tool does); the process limits
are mean +/- 2.66 x AMR and the "2-sigma" lines mean +/- 2 x (2.66 / 3) x AMR.

A period whose baseline has no usable moving range (a single point, or screening that drops
every range because all of them are zero) has NaN limits, as in the reference: no point is
then outside them or near them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

LIMIT = 2.66
#: R computes ``2 * (limit / 3)``; the same operations keep the same last bit.
NEAR_LIMIT = 2 * (LIMIT / 3)
_MANTISSA_BITS = 53
_MAX_EXPONENT = 1024
#: A moving range of this many AMRs or more is an outlier and leaves the AMR.
OUTLIER_SCREEN = 3.267


@dataclass(frozen=True, slots=True)
class Limits:
    """One period's centre line and limits (NaN where they cannot be computed)."""

    mean: float
    amr: float
    lpl: float
    upl: float
    lower_two_sigma: float
    upper_two_sigma: float

    @property
    def defined(self) -> bool:
        return not math.isnan(self.amr)


def r_mean(values: Sequence[float]) -> float:
    """The arithmetic mean, correctly rounded, as R's ``mean()`` gives it.

    R sums in extended precision and refines the quotient with a second pass over the
    residuals, which lands on the double nearest the exact mean; a plain ``sum / n`` can be
    one unit in the last place away, enough to move a point onto or off a limit. Here the
    sum is exact: every value is scaled by the same power of two into an integer (the
    smallest value's last bit becomes 1), and Python's integer division rounds correctly.
    Empty input gives NaN, as ``mean(numeric(0))`` does.
    """
    count = len(values)
    if count == 0:
        return math.nan
    magnitudes = list(filter(None, map(abs, values)))
    if not magnitudes:
        return 0.0
    scale = _MANTISSA_BITS - math.frexp(min(magnitudes))[1]
    if math.frexp(max(magnitudes))[1] + scale >= _MAX_EXPONENT:  # would overflow: ratios
        ratios = [value.as_integer_ratio() for value in values]
        shift = max(denominator for _, denominator in ratios).bit_length() - 1
        total = sum(n << (shift - d.bit_length() + 1) for n, d in ratios)
        return total / (count << shift)
    total = sum(map(int, map(math.ldexp, values, itertools.repeat(scale, count))))
    return total / (count << scale) if scale >= 0 else total * (1 << -scale) / count


def period_limits(values: Sequence[float], *, fix_after: int | None, screen: bool) -> Limits:
    """The limits of one period from its values in time order."""
    baseline = values if fix_after is None else values[:fix_after]
    mean = r_mean(baseline)
    ranges = [abs(later - earlier) for earlier, later in itertools.pairwise(baseline)]
    amr = r_mean(ranges)
    if screen:
        cut = OUTLIER_SCREEN * amr
        kept = [moving_range for moving_range in ranges if moving_range < cut]
        if len(kept) < len(ranges):  # the same ranges give the same mean
            amr = r_mean(kept)
    return Limits(
        mean=mean,
        amr=amr,
        lpl=mean - LIMIT * amr,
        upl=mean + LIMIT * amr,
        lower_two_sigma=mean - NEAR_LIMIT * amr,
        upper_two_sigma=mean + NEAR_LIMIT * amr,
    )
