"""Write each model's data: the churn example's customers, split by contract.

    python make_data.py        # from this folder; reads ../churn/data/*.csv

monthly/ gets the month-to-month customers, annual/ those on a one- or two-year
contract: the first 600 training and 250 validation rows of each, so the example
trains in seconds.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "churn" / "data"
SEGMENTS = {
    "monthly": {"month-to-month"},
    "annual": {"one-year", "two-year"},
}
ROWS = {"train": 600, "validation": 250}


def main() -> None:
    for split, limit in ROWS.items():
        with (SOURCE / f"{split}.csv").open(newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        for model, contracts in SEGMENTS.items():
            chosen = [row for row in rows if row["contract"] in contracts][:limit]
            target = HERE / model / "data" / f"{split}.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", newline="", encoding="utf-8") as stream:
                writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
                writer.writeheader()
                writer.writerows(chosen)


if __name__ == "__main__":
    main()
