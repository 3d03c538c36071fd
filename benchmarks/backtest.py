"""The 10-year backtest: one taxable account holding 20 securities (five in each of
four asset classes, a model and an alternative model per class), a seeded synthetic
market with falling regimes, about 2,520 NYSE trading days, every strategy
(`lotline backtest --strategy all`, the strategies in parallel worker processes).

Prints the wall time of the whole run, each strategy's processor time and its pace
(processor ms per day in each tenth of the run: flat means linear in the number of
days), and the results the README quotes (tax alpha, drift, tracking error, trades).
Figures on a shared machine are noisy: the processor times are the steadier measure.

    python benchmarks/backtest.py [--years 10] [--securities 20] [--seed 5]
"""

from __future__ import annotations

import os

# One BLAS thread, as `lotline` sets for itself (before numpy is first imported).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from lotline.application.backtest import document, read_input, run_backtest  # noqa: E402
from lotline.application.synthetic_market import write_files  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--securities", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--strategy", default="all")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    days = 252 * args.years
    with tempfile.TemporaryDirectory() as directory:
        scenario, prices = write_files(Path(directory), securities=args.securities, accounts=1, history=260,
                                       days=days, seed=args.seed)
        given = read_input(prices, scenario, None, None, args.strategy)
        began = time.perf_counter()
        results = run_backtest(given, workers=args.workers)
        wall = time.perf_counter() - began
    print(f"{len(given.days)} trading days ({given.start} to {given.end}), {args.securities} securities, "
          f"1 account: wall {wall:.1f} s for {', '.join(given.strategies)}")
    doc = document(results)
    for result, row in zip(results, doc["strategies"], strict=True):
        cpu = result.cpu_seconds
        tenth = max(1, len(cpu) // 10)
        marks = [cpu[min(len(cpu) - 1, (k + 1) * tenth - 1)] for k in range(10)]
        pace = [round((b - a) / tenth * 1000) for a, b in zip([0.0, *marks[:-1]], marks, strict=True)]
        print(f"  {result.strategy:<10} processor {cpu[-1]:6.1f} s; ms/day by tenth {pace}")
        print(f"  {'':<10} after-tax {row['after_tax_liquidation_value']}, taxes {row['taxes_paid']}, "
              f"harvested {row['losses_harvested']}, wash sales {row['wash_sale_violations']}, "
              f"tracking error {row['tracking_error_annual']}, drift {row['mean_abs_class_drift']}, "
              f"turnover {row['turnover_annual']}, trades {row['trades']}")
    print(f"tax alpha (holistic against no-harvest): {doc['tax_alpha_annual']} of the initial value a year")


if __name__ == "__main__":
    main()
