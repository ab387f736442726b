"""The scan report: a JSON Lines file of a job's outcome, read back from its journal.

Line 1 is the summary (job, source, counts, times); then one ``{"error": ...}`` line per item that
failed (its content id, path and reason) and one ``{"match": ...}`` line per item that matched
(its content id, path, the case its matches went to, and the matches). Hashes and ids only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tessera.scan.checkpoint import ScanJournal
from tessera.scan.runner import ScanOutcome
from tessera.services.matching import shown_value


def summary_json(journal: ScanJournal, outcome: ScanOutcome) -> dict[str, Any]:
    """The report's first line."""
    started, finished = journal.job_times(outcome.job)
    s = outcome.summary
    return {
        "job": outcome.job.uuid,
        "org": outcome.job.org,
        "source": outcome.job.source,
        "resumed": outcome.job.resumed,
        "items": s.done,
        "scanned_now": outcome.scanned,
        "skipped_done_before": outcome.skipped,
        "failed": s.failed,
        "matched": s.matched,
        "with_case": s.routed,
        "cases_opened_now": outcome.cases_opened,
        "started_at": started,
        "finished_at": finished,
    }


def write_report(journal: ScanJournal, outcome: ScanOutcome, path: Path) -> int:
    """Write the report; returns how many lines it has."""
    lines = 0
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"summary": summary_json(journal, outcome)}) + "\n")
        lines += 1
        for item in journal.items(outcome.job, errors_only=True):
            error = {"content_id": item.key, "path": item.path, "reason": item.error}
            f.write(json.dumps({"error": error}) + "\n")
            lines += 1
        for item in journal.items(outcome.job, matched_only=True):
            matches = [
                {
                    "bank": m["bank"],
                    "entry": m["entry_uuid"],
                    "signal_type": m["signal_type"],
                    "distance": m["distance"],
                    "threshold": m["threshold"],
                    "query": shown_value(m["query_value"]),
                }
                for m in item.matches
            ]
            match = {
                "content_id": item.key,
                "path": item.path,
                "case": item.case_uuid,
                "matches": matches,
            }
            f.write(json.dumps({"match": match}) + "\n")
            lines += 1
    return lines
