"""Writes tests/durations.json, each test module's seconds in a run, from a JUnit XML file.

`make test` hands whole modules to its workers, heaviest first by these figures, so one long
module started last cannot hold the run open alone (see tests/module_order.py). Refresh it
with `make durations` after adding or slowing down tests; a module it does not list yet is
placed as one of median weight.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree


def module_seconds(junit_xml: Path) -> dict[str, float]:
    seconds: Counter[str] = Counter()
    for case in ElementTree.parse(junit_xml).iter("testcase"):
        file = case.get("file")
        if not file:
            # pytest's JUnit names a test's class in `classname`; the module is what
            # comes before a capitalised part.
            parts = (case.get("classname") or "").split(".")
            while parts and parts[-1][:1].isupper():
                parts.pop()
            file = "/".join(parts) + ".py"
        seconds[file] += float(case.get("time") or 0)
    return {file: round(total, 1) for file, total in sorted(seconds.items())}


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: test-durations.py JUNIT_XML OUT_JSON")
    figures = module_seconds(Path(sys.argv[1]))
    Path(sys.argv[2]).write_text(json.dumps(figures, indent=1) + "\n")
    print(f"{len(figures)} modules, {sum(figures.values()):.0f} s in all -> {sys.argv[2]}")


if __name__ == "__main__":
    main()
