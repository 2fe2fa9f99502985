"""Regenerate `tests/data/study_results/`: the tiny test study's TSV/JSON results, which
`test_workflow.py::test_results_match_the_kept_study` compares byte for byte.

Run it only in a commit of its own, when numbers change on purpose (a new default solver, a new
lock), and say in that commit's message by how much they moved:

    .venv/bin/python tests/regenerate_study_results.py
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import REPO, make_study, snakemake  # noqa: E402

KEPT = Path(REPO) / "tests" / "data" / "study_results"


def result_files(root: Path) -> list[str]:
    """The study's TSV/JSON results, relative to `root`; run-dependent provenance left out."""
    return sorted(str(p.relative_to(root)) for p in (root / "results").rglob("*")
                  if p.suffix in (".tsv", ".json") and "provenance" not in p.parts and not p.name.startswith("."))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_study(Path(tmp) / "study")
        run = snakemake(root, timeout=3600)
        if run.returncode != 0:
            sys.exit(run.stderr[-5000:])
        shutil.rmtree(KEPT, ignore_errors=True)
        for name in result_files(root):
            target = KEPT / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / name, target)
    print(f"{len(result_files(KEPT))} files in {KEPT}")


if __name__ == "__main__":
    main()
