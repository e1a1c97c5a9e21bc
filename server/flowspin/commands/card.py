"""`flowspin card FILE STEP [--run RUN_ID] [--open]`: the path of a step's latest card."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "card",
        help="print the path of a step's newest card (spin or run)",
        description="Print the path of the latest card of STEP: from the newest spin of the "
        "step, or, with --run or when the step was never spun, from the run's card in "
        "Metaflow's datastore. Several cards of a step print one path per line.",
    )
    p.add_argument("file", help="flow file")
    p.add_argument("step", help="step name")
    p.add_argument("--run", metavar="RUN_ID", help="a run's card instead of the newest spin's")
    p.add_argument("--open", action="store_true", help="also open the card in a web browser")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flowspin.cards.lookup import CardLookupError, latest_cards

    flow_file = Path(args.file).resolve()
    if not flow_file.is_file():
        print(f"flowspin card: {args.file}: no such flow file", file=sys.stderr)
        return 2
    try:
        found = latest_cards(flow_file, args.step, args.run)
    except CardLookupError as exc:
        print(f"flowspin card: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"source": found.source, "label": found.label, "cards": found.cards}))
    else:
        for card in found.cards:
            print(card["path"])
        sys.stdout.flush()
        print(f"({found.label})", file=sys.stderr)
    if args.open:
        import webbrowser

        webbrowser.open(Path(found.cards[0]["path"]).as_uri())
    return 0
