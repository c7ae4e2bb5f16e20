"""The gateway's periodic work, each a coroutine that runs until cancelled (``GatewayService.stop``): the
sites' admin-key lists pushed, their sketches and their term statistics fetched again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from fastapi.concurrency import run_in_threadpool

from rag_fed.admin_keys.push import PushResult
from rag_fed.router import Router

__all__ = ["push_admin_keys_forever", "refresh_sketches_forever", "refresh_term_stats_forever"]

_log = logging.getLogger(__name__)


async def push_admin_keys_forever(
    push: Callable[[], Sequence[PushResult]], period_s: float, first_failed: bool
) -> None:
    """Every site's admin-key list, every ``period_s`` (``admin_keys_push_s``, docs/security.md). After a round
    in which a site was not reached (one still starting, say) the next comes after 1 s, doubling up to the
    period."""
    retry_s = 1.0
    failed = first_failed
    while True:
        await asyncio.sleep(min(retry_s, period_s) if failed else period_s)
        retry_s = min(retry_s * 2, period_s) if failed else 1.0
        try:
            results = await run_in_threadpool(push)
            failed = any(not result.ok for result in results)
        except Exception:  # a bug must not stop the pushes: the sites would lock their admins out
            _log.exception("admin key push failed")
            failed = True


async def refresh_sketches_forever(router: Router, sync_clients: Callable[[], None], period_s: float) -> None:
    """Every site's sealed sketch, every ``period_s`` (``sketch_refresh_s``), the registry followed first."""
    while True:
        sync_clients()
        errors = await router.refresh_sketches()
        failed = {site: error for site, error in errors.items() if error}
        if failed:
            _log.warning("sketches not refreshed: %s", failed)
        await asyncio.sleep(period_s)


async def refresh_term_stats_forever(router: Router, sync_clients: Callable[[], None], period_s: float) -> None:
    """The sites' term statistics (docs/term-statistics.md), at start and every ``period_s``
    (``term_stats_refresh_s``); a site whose reply names a newer index version is refreshed at once by the
    router. A fetch that failed (a site still starting, or busy) is retried after 2 s, doubling up to the
    refresh period, so one failed start-up fetch does not leave the federation on its own counts for five
    minutes."""
    retry_s = 2.0
    while True:
        sync_clients()
        errors = await router.refresh_term_stats()
        failed = {site: error for site, error in errors.items() if error}
        if failed:
            _log.warning("term statistics not refreshed (retry in %.0f s): %s", retry_s, failed)
            await asyncio.sleep(min(retry_s, period_s))
            retry_s = min(retry_s * 2, period_s)
            continue
        retry_s = 2.0
        await asyncio.sleep(period_s)
