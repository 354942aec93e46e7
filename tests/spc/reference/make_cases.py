"""Write xmr_cases.json: the input series the R reference is run on.

The package's own fixtures (from NHSRplotthedots 0.2.2's tests/testthat), series made by
hand to sit on each edge the reference defines (ties, points on the mean, on a limit and on
a 2-sigma line, rebases, fixed baselines, outlier screening on and off, each direction, a
target for each assurance icon), and random series with a fixed seed. Run:

    python tests/spc/reference/make_cases.py > tests/spc/reference/xmr_cases.json

then regenerate tests/spc/xmr_reference_data.py with nhsr_reference.R.
"""

from __future__ import annotations

import json
import random
from typing import Any

#: set.seed(123); rnorm(20) in R, as tests/testthat/test-ptd_spc_standard.R builds its data.
RNORM_123 = [
    -0.5604756465522126, -0.23017748948327996, 1.558708314149124, 0.070508391424576003,
    0.12928773516094624, 1.715064986883281, 0.4609162059892023, -1.265061234606534,
    -0.68685285189352607, -0.44566197009995806, 1.2240817974394615, 0.35981382705736381,
    0.40077145059405217, 0.11068271594511971, -0.55584113475407493, 1.7869131368030782,
    0.49785047822923939, -1.9666171566296382, 0.70135590156368555, -0.47279140772793404,
]  # fmt: skip


def case(name: str, why: str, values: list[float], **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "why": why,
        "values": values,
        "improvement": options.get("improvement", "increase"),
        "target": options.get("target"),
        "rebase": options.get("rebase", []),
        "fix_after": options.get("fix_after"),
        "screen_outliers": options.get("screen_outliers", True),
    }


def package_fixtures() -> list[dict[str, Any]]:
    spiked = list(RNORM_123)
    spiked[14] = 10.0
    symmetric = [1.0, -1.0] * 8
    symmetric[14], symmetric[15] = 5.5, -5.5
    return [
        case("pkg_rnorm", "test-ptd_spc_standard.R r1 / _snaps r1", RNORM_123),
        case("pkg_rnorm_spike_screened", "test-ptd_spc_standard.R r2", spiked),
        case(
            "pkg_rnorm_spike_unscreened",
            "test-ptd_spc_standard.R r3",
            spiked,
            screen_outliers=False,
        ),
        case(
            "pkg_rnorm_fix12",
            "test-ptd_spc_standard.R fix_after_n_points = 12",
            RNORM_123,
            fix_after=12,
        ),
        case("pkg_rnorm_rebase10", "test-ptd_spc_standard.R rebase_group", RNORM_123, rebase=[10]),
        case("pkg_two_in_three_opposite", "test-ptd_spc_standard.R 2of3 opposite sides", symmetric),
        case(
            "pkg_rnorm_target", "_snaps/ptd_spc.md summary with a target 0.5", RNORM_123, target=0.5
        ),
    ]


def on_the_lines() -> list[float]:
    # A fixed baseline of 12 (mean 11, every moving range 2, so AMR 2), then points placed
    # on the lines computed with the same floating-point operations R uses.
    upl = 11 + 2.66 * 2
    lpl = 11 - 2.66 * 2
    upper_two_sigma = 11 + (2 * (2.66 / 3)) * 2
    lower_two_sigma = 11 - (2 * (2.66 / 3)) * 2
    return [10.0, 12.0] * 6 + [
        upl, 11.0, lpl, 11.0, upper_two_sigma, upper_two_sigma, 12.0, lower_two_sigma,
        lower_two_sigma, 10.0, upl + 1e-9, 11.0, lpl - 1e-9, 11.0,
    ]  # fmt: skip


def hand_made() -> list[dict[str, Any]]:
    noise = [0, 1, -1, 2, -2, 1, 0, -1, 2, -2, 1, -1]
    return [
        case("tie_breaks_trend", "eight rising points with a tie in the middle: no trend",
             [10, 16, 9, 17, 10, 16, 11, 12, 13, 14, 14, 15, 16, 17, 18, 12, 17, 10, 15, 11]),
        case("trend_of_eight", "eight strict rises inside the limits: a trend",
             [16, 9, 17, 10, 16, 9, 11, 12, 13, 14, 15, 16, 17, 11, 15, 10, 17, 9, 16, 12]),
        case("outside_beats_trend", "a trend whose first points are outside the limits",
             [15, 16, 14, 15, 10, 11, 12, 13, 14, 15, 16, 15, 14, 16, 15, 14, 16, 15]),
        case("mean_breaks_shift", "six above, one on the mean (exactly 10), six above",
             [12, 11, 13, 12, 11, 13, 10, 12, 11, 13, 12, 11, 13, 4, 5, 6, 7, 8, 7, 9]),
        case("shift_of_seven", "seven points above an exactly representable mean",
             [12, 11, 13, 12, 11, 13, 12, 7, 8, 9, 8, 7, 9, 8, 10, 10]),
        case("on_the_lines", "points on the limits, the mean and the 2-sigma lines",
             on_the_lines(), fix_after=12, target=11 + 2.66 * 2),
        case("two_in_three_same_side", "two of three beyond the upper 2-sigma line",
             [10, 11, 9, 10, 11, 9, 10, 11, 9, 10, 13.6, 10.5, 13.7, 10, 9, 11, 10, 9]),
        case("rebase_step", "a step at 15 with a new period from it",
             [20 + n for n in noise] + [21, 19, 20] + [30 + n for n in noise] + [31, 29, 30],
             rebase=[15]),
        case("no_rebase_step", "the same step without a rebase: special cause",
             [20 + n for n in noise] + [21, 19, 20] + [30 + n for n in noise] + [31, 29, 30]),
        case("fixed_baseline_improves", "limits fixed on 12 points, then a higher level",
             [50 + n for n in noise] + [55, 56, 54, 57, 55, 56, 58, 55, 56, 57],
             fix_after=12, target=52),
        case("screen_on", "one huge moving range left out of the AMR",
             [5, 6, 5, 7, 6, 5, 6, 40, 6, 5, 7, 6, 5, 6, 5, 7]),
        case("screen_off", "the same series with screening off (the MDC Excel tool)",
             [5, 6, 5, 7, 6, 5, 6, 40, 6, 5, 7, 6, 5, 6, 5, 7], screen_outliers=False),
        case("decrease_improving", "lower is better and the last points fall: pass",
             [30, 31, 29, 32, 30, 31, 29, 30, 32, 31, 30, 29, 31, 30, 22, 21, 20, 21, 20],
             improvement="decrease", target=35),
        case("decrease_concern", "lower is better and the last point jumps up: fail",
             [30, 31, 29, 32, 30, 31, 29, 30, 32, 31, 30, 29, 31, 30, 45],
             improvement="decrease", target=20),
        case("increase_concern", "higher is better and the last point drops: fail",
             [30, 31, 29, 32, 30, 31, 29, 30, 32, 31, 30, 29, 31, 30, 15],
             improvement="increase", target=40),
        case("increase_pass", "higher is better, the last point jumps up, target below",
             [30, 31, 29, 32, 30, 31, 29, 30, 32, 31, 30, 29, 31, 30, 45],
             improvement="increase", target=20),
        case("neutral_high", "neutral: a high special cause, a target gives no assurance",
             [30, 31, 29, 32, 30, 31, 29, 30, 32, 31, 30, 29, 31, 30, 45],
             improvement="neutral", target=40),
        case("neutral_low", "neutral: a low special cause",
             [30, 31, 29, 32, 30, 31, 29, 30, 32, 31, 30, 29, 31, 30, 15],
             improvement="neutral"),
        case("target_inside", "target between the limits: inconsistent",
             [30, 31, 29, 32, 30, 31, 29, 30, 32, 31, 30, 29, 31, 30], target=30.5),
        case("short_series", "five points: trial limits and the short-period warning",
             [3, 5, 4, 6, 5], target=1),
        case("two_points", "the fewest points a chart takes", [3, 5]),
        case("constant_screened", "every moving range zero: screening leaves none (NaN)",
             [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], target=5),
        case("constant_unscreened", "every moving range zero, unscreened: zero-width limits",
             [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], screen_outliers=False),
        case("constant_baseline_then_moves", "a flat fixed baseline, then movement",
             [4] * 12 + [5, 3, 6, 6, 6, 6, 6, 6, 6], fix_after=12),
        case("one_point_last_period", "a rebase at the last point: a period of one",
             [10, 12, 11, 13, 12, 10, 11, 12, 13, 11, 12, 11, 10, 12, 30], rebase=[14],
             target=11),
        case("trend_peak", "seven rises then seven falls sharing the peak",
             [5, 9, 4, 8, 5, 9, 4, 5, 6, 7, 8, 9, 10, 9, 8, 7, 6, 5, 4, 8, 5]),
        case("trend_peak_outside", "a peak outside the limits between two trends",
             [1, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1, 2, 3, 2]),
        case("rebase_and_fix", "two periods, each fixed on its first 12 points",
             [20 + n for n in noise] + [22, 23, 24] + [30 + n for n in noise] + [35, 36],
             rebase=[15], fix_after=12),
        case("rebase_zero_and_duplicates", "a rebase at position 0 changes nothing",
             [20 + n for n in noise] + [21, 19, 20] + [30 + n for n in noise],
             rebase=[0, 15, 15]),
    ]  # fmt: skip


def random_cases(count: int = 30, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cases: list[dict[str, Any]] = []
    for number in range(count):
        length = rng.randint(14, 45)
        level, values = 50.0, []
        for _ in range(length):
            if rng.random() < 0.06:
                level += rng.choice([-8, -5, 5, 8])
            values.append(round(rng.gauss(level, 3), rng.choice([0, 1])))
        rebase = sorted(rng.sample(range(5, length), k=rng.choice([0, 0, 1, 2])))
        cases.append(
            case(
                f"random_{number:02d}",
                f"random series {number} (seed {seed}), values rounded for ties",
                values,
                improvement=rng.choice(["increase", "decrease", "neutral"]),
                target=rng.choice([None, round(rng.gauss(50, 6), 1)]),
                rebase=rebase,
                fix_after=rng.choice([None, None, 12, 15]),
                screen_outliers=rng.random() < 0.7,
            )
        )
    return cases


if __name__ == "__main__":
    print(json.dumps(package_fixtures() + hand_made() + random_cases(), indent=1))
