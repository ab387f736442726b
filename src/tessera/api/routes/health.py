"""Health, readiness and metrics: no token needed (they show no bank content)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tessera.api.deps import NodeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (answered in the event loop: it does no blocking work)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
def readyz(node: NodeDep, response: Response) -> dict[str, object]:
    """The store answers and the match index is loaded."""
    try:
        seq = node.store.latest_seq()
    except Exception:  # any store failure means not ready; the reason is in the log
        response.status_code = 503
        return {"status": "store unavailable"}
    lag = max(0, seq - node.matcher.cursor)
    if not node.loaded:
        response.status_code = 503
        return {"status": "loading index"}
    return {"status": "ready", "change_seq": seq, "matcher_lag": lag}


@router.get("/metrics", response_class=Response)
def metrics(node: NodeDep) -> Response:
    """Prometheus metrics (request counts and latency, index sizes, matcher lag)."""
    node.refresh_gauges()
    return Response(generate_latest(node.registry), media_type=CONTENT_TYPE_LATEST)
