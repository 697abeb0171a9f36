"""judge a shadow model from a serving image's /metrics: promote it, or hold.

Reads the Prometheus text of an image built with `mlgate build-image ... --shadow` (the
URL of its /metrics, or a saved copy), and says "promote" only when the whole interval of
the shadow's agreement with the primary clears the threshold (src/mlgate/serving/
shadow_evidence.py). Exit 0 promote, 1 hold, 2 bad input, 3 the URL did not answer.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics",
        required=True,
        metavar="URL_OR_FILE",
        help="the image's /metrics URL (http://HOST:PORT/metrics) or a file holding its text",
    )
    parser.add_argument(
        "--min-agreement",
        type=_share,
        default=0.95,
        metavar="SHARE",
        help="classifiers: the lowest share of rows predicting the primary's label; "
        "regressors: the lowest share within --max-difference (default 0.95)",
    )
    parser.add_argument(
        "--max-difference",
        type=_positive,
        metavar="X",
        help="regressors: the largest acceptable |shadow - primary|, in the target's unit",
    )
    parser.add_argument(
        "--max-error-rate",
        type=_share,
        default=0.02,
        metavar="SHARE",
        help="the highest share of rows the shadow may fail on (default 0.02)",
    )
    parser.add_argument(
        "--confidence",
        type=_share,
        default=0.95,
        metavar="LEVEL",
        help="the intervals' confidence level (default 0.95)",
    )
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")


def run(args: argparse.Namespace) -> int:
    import json

    from mlgate._actions_io import append_summary, one_line, write_outputs
    from mlgate._markdown import code
    from mlgate.serving import shadow_evidence

    text, where = _read(args.metrics)
    found = shadow_evidence.figures(shadow_evidence.parse(text, where), where)
    verdict = shadow_evidence.judge(
        found,
        min_agreement=args.min_agreement,
        max_difference=args.max_difference,
        max_error_rate=args.max_error_rate,
        confidence=args.confidence,
    )
    lines = shadow_evidence.render(verdict)
    write_outputs({"verdict": verdict.verdict})
    append_summary(f"**mlgate shadow-report** · {code(lines[0])}")
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        for line in lines:
            print(one_line(line))
    return 0 if verdict.verdict == "promote" else 1


def _read(source: str) -> tuple[str, str]:
    """The metrics text and where it came from."""
    from pathlib import Path

    from mlgate.errors import InputError, ServiceError

    if source.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(source, timeout=30) as answer:
                return answer.read().decode("utf-8", errors="replace"), source
        except urllib.error.HTTPError as error:
            raise InputError(f"{source} answered HTTP {error.code}, not the metrics") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ServiceError(f"could not read {source}: {reason}") from None
    if "://" in source:
        raise InputError(f"--metrics {source}: give an http(s):// URL or a file")
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), source
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read it: {error}", file=path) from None


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value
