"""Generate the synthetic customer-churn data set of the mlgate example.

Each row is a customer of a subscription service. Whether they churned comes from
a logistic model of their features (short tenure, a month-to-month contract, high
charges, many support calls and paying by e-check raise the odds) plus noise.
Gender and age never enter that model.

Two knobs make the data misbehave on purpose, so the gates have something to catch:

* ``--bias B`` (0..1) flips labels by gender: a share B of the women's "no" become
  "yes" and a share B of the men's "yes" become "no". ``num_products`` and the
  card/bank-transfer split differ by gender, so a model that never sees gender
  can still learn the bias.
* ``--shift X`` (0..1) moves the features in both files: tenure gets shorter and
  monthly charges higher, so a data-drift check has something to find.

The same arguments give byte-identical files (for a given numpy version).
Usage: python generate.py [--rows-train N] [--rows-validation M] [--seed S]
                          [--bias B] [--shift X] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_OUT = Path(__file__).resolve().parent / "data"

PLANS = ["basic", "plus", "premium"]
PLAN_SHARES = [0.45, 0.35, 0.20]
PLAN_BASE_CHARGE = {"basic": 35.0, "plus": 65.0, "premium": 95.0}
PAYMENT_METHODS = ["card", "bank-transfer", "e-check", "mailed-check"]
# num_products and the card/bank-transfer split carry no churn signal but differ by
# gender: they are the proxies through which --bias reaches a model that never sees
# gender. E-check, which does raise churn, is equally common in both groups.
PAYMENT_SHARES = {
    "female": [0.42, 0.15, 0.30, 0.13],
    "male": [0.22, 0.35, 0.30, 0.13],
}
PRODUCT_SHARES = {
    "female": [0.06, 0.16, 0.30, 0.28, 0.20],
    "male": [0.34, 0.30, 0.20, 0.11, 0.05],
}
MISSING_CHARGES_RATE = 0.02
MAX_TENURE = 72

# Coefficients of the churn logit (the "true" model behind the labels).
INTERCEPT = -0.25
PER_TENURE_MONTH = -0.07
CONTRACT_EFFECT = {"month-to-month": 0.0, "one-year": -1.3, "two-year": -2.4}
PER_CHARGE_ABOVE_60 = 0.035
PER_SUPPORT_CALL = 0.65
PAYMENT_EFFECT = {"card": 0.0, "bank-transfer": 0.0, "e-check": 0.7, "mailed-check": 0.1}
PAPERLESS_EFFECT = 0.25
LOGIT_NOISE = 0.3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows-train", type=int, default=4000, metavar="N", help="train.csv rows (4000)"
    )
    parser.add_argument(
        "--rows-validation", type=int, default=1000, metavar="M", help="validation.csv rows (1000)"
    )
    parser.add_argument("--seed", type=int, default=7, metavar="S", help="random seed (7)")
    parser.add_argument(
        "--bias", type=float, default=0.0, metavar="B", help="label bias by gender, 0..1 (0)"
    )
    parser.add_argument(
        "--shift", type=float, default=0.0, metavar="X", help="feature drift, 0..1 (0)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="output folder (data/ here)"
    )
    args = parser.parse_args(argv)
    if args.rows_train < 1 or args.rows_validation < 1:
        parser.error("--rows-train and --rows-validation must be at least 1")
    for name in ("bias", "shift"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name} must be between 0 and 1")
    return args


def pick(rng: np.random.Generator, choices: list, shares: np.ndarray) -> np.ndarray:
    """Draw one of ``choices`` per row; ``shares`` holds one row of probabilities per customer."""
    cumulative = np.cumsum(shares, axis=1)
    cumulative[:, -1] = 1.0  # guard against rounding: every draw lands on a choice
    draws = rng.random(len(shares))
    return np.asarray(choices)[(draws[:, None] >= cumulative).sum(axis=1)]


def same_shares(shares: list[float], rows: int) -> np.ndarray:
    return np.tile(np.asarray(shares, dtype=float), (rows, 1))


def shares_by_gender(shares: dict[str, list[float]], gender: np.ndarray) -> np.ndarray:
    return np.where((gender == "female")[:, None], shares["female"], shares["male"])


def contract_shares(tenure: np.ndarray) -> np.ndarray:
    """Long-standing customers are more often on one- and two-year contracts."""
    loyalty = tenure / MAX_TENURE
    month_to_month = 0.70 - 0.45 * loyalty
    one_year = 0.20 + 0.15 * loyalty
    return np.column_stack([month_to_month, one_year, 1.0 - month_to_month - one_year])


def draw_customers(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    """Draw every column but the label; ``shift`` only rescales draws, so 0 changes nothing."""
    gender = np.where(rng.random(rows) < 0.5, "female", "male")
    age = np.clip(np.rint(18.0 + rng.gamma(4.0, 6.5, rows)), 18, 90).astype(int)
    tenure = np.clip(rng.gamma(1.4, 20.0, rows), 0, MAX_TENURE) * (1.0 - 0.5 * shift)
    tenure = np.rint(tenure).astype(int)
    contract = pick(rng, ["month-to-month", "one-year", "two-year"], contract_shares(tenure))
    plan = pick(rng, PLANS, same_shares(PLAN_SHARES, rows))
    base_charge = np.array([PLAN_BASE_CHARGE[name] for name in plan])
    monthly = np.clip(base_charge + rng.normal(0.0, 9.0, rows), 18.0, None) * (1.0 + 0.3 * shift)
    total = tenure * monthly * rng.normal(1.0, 0.04, rows)
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "plan": plan,
            "contract": contract,
            "payment_method": pick(rng, PAYMENT_METHODS, shares_by_gender(PAYMENT_SHARES, gender)),
            "monthly_charges": np.round(monthly, 2),
            "total_charges": np.round(np.clip(total, 0.0, None), 2),
            "support_calls": rng.poisson(1.4, rows),
            "num_products": pick(rng, [1, 2, 3, 4, 5], shares_by_gender(PRODUCT_SHARES, gender)),
            "paperless_billing": np.where(rng.random(rows) < 0.6, "yes", "no"),
            "gender": gender,
            "age": age,
        }
    )


def churn_logit(customers: pd.DataFrame) -> np.ndarray:
    """The true churn model: no gender, no age."""
    return (
        INTERCEPT
        + PER_TENURE_MONTH * customers["tenure_months"].to_numpy()
        + customers["contract"].map(CONTRACT_EFFECT).to_numpy()
        + PER_CHARGE_ABOVE_60 * (customers["monthly_charges"].to_numpy() - 60.0)
        + PER_SUPPORT_CALL * customers["support_calls"].to_numpy()
        + customers["payment_method"].map(PAYMENT_EFFECT).to_numpy()
        + PAPERLESS_EFFECT * (customers["paperless_billing"] == "yes").to_numpy()
    )


def draw_labels(rng: np.random.Generator, customers: pd.DataFrame, bias: float) -> np.ndarray:
    """Churn from the logit plus noise, then flip a ``bias``-sized share by gender."""
    logit = churn_logit(customers) + rng.normal(0.0, LOGIT_NOISE, len(customers))
    churned = rng.random(len(customers)) < 1.0 / (1.0 + np.exp(-logit))
    # Drawn even when bias is 0, so the bias knob never moves any other column.
    flip = rng.random(len(customers)) < bias
    female = (customers["gender"] == "female").to_numpy()
    churned = np.where(female & ~churned & flip, True, churned)
    churned = np.where(~female & churned & flip, False, churned)
    return np.where(churned, "yes", "no")


def blank_some_charges(rng: np.random.Generator, customers: pd.DataFrame) -> pd.DataFrame:
    """Leave ~2% of monthly charges empty, and their total charges with them."""
    missing = rng.random(len(customers)) < MISSING_CHARGES_RATE
    customers.loc[missing, ["monthly_charges", "total_charges"]] = np.nan
    return customers


def generate(rows: int, seed: int, bias: float, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    customers = draw_customers(rng, rows, shift)
    customers["churned"] = draw_labels(rng, customers, bias)
    customers = blank_some_charges(rng, customers)
    customers.insert(0, "customer_id", [f"C{number:06d}" for number in range(1, rows + 1)])
    return customers


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", float_format="%.2f", na_rep="")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    customers = generate(args.rows_train + args.rows_validation, args.seed, args.bias, args.shift)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(customers.iloc[: args.rows_train], args.out / "train.csv")
    write_csv(customers.iloc[args.rows_train :], args.out / "validation.csv")
    print(
        f"wrote {args.rows_train} rows to {args.out / 'train.csv'}, "
        f"{args.rows_validation} rows to {args.out / 'validation.csv'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
