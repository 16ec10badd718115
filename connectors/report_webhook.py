"""Posts a finished daily report's summary to a configured webhook (JSON, bearer token).

The body carries the figures and where the files lie; not the files themselves, which stay
on the worker's disk. No retries here: failures are classified and Temporal retries.
"""

from __future__ import annotations

import httpx

from connectors.http_errors import raise_for_response, transport_errors
from domain.reports import DailyReport, ReportFiles

SYSTEM = "report-webhook"


async def post_report(
    url: str, token: str, report: DailyReport, files: ReportFiles, *, http_timeout: float = 10.0
) -> None:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {
        "day": report.window.day.isoformat(),
        "time_zone": report.window.timezone,
        "empty": report.empty,
        "directory": files.directory,
        "files": files.files,
        "report": report.model_dump(mode="json"),
    }
    async with httpx.AsyncClient(timeout=http_timeout) as client:
        with transport_errors(SYSTEM):
            response = await client.post(url, json=body, headers=headers)
    raise_for_response(SYSTEM, response)
