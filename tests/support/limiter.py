"""The limiter step alone in mitmproxy's test context: a flow it limits, a run of a
scenario with it loaded and started, and flows no limit check may touch."""

import asyncio
import time

from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.limits import Limiter
from aispendtrack.proxy.state import META, FlowState
from aispendtrack.store.writer import StoreWriter


def limited_flow(key_id="key_1", account="acme", hourly=2):
    f = tflow.tflow()
    state = FlowState("openai", "chat", "openai", time.time())
    state.key_id, state.account, state.requests_per_hour = key_id, account, hourly
    f.metadata[META] = state
    return f


def run(limiter: Limiter, scenario, *, start=True, clock=None, **options):
    """`scenario(tctx)` with the limiter loaded, configured, its clock replaced by `clock` if
    given, and (unless `start=False`) started with a running store writer, as the addon
    starts them; the writer is closed at the end, as the addon's shutdown does."""
    rt = limiter.rt

    async def main():
        with taddons.context(limiter) as tctx:
            tctx.configure(limiter, **options)
            if clock is not None:
                limiter.clock = clock
            if start:
                rt.writer = StoreWriter(rt.store, health=rt.health)
                rt.writer.start()
                limiter.start()
            try:
                return await scenario(tctx)
            finally:
                if rt.writer is not None:
                    rt.writer.close()

    return asyncio.run(main())


def spoil(f, case: str) -> None:
    """Make `f` a flow no limit check may touch: "answered", "errored", "not live" or "not ours"."""
    if case == "answered":
        f.response = tflow.tresp()
    elif case == "errored":
        f.error = tflow.terr()
    elif case == "not live":
        f.live = False
    else:
        assert case == "not ours"
        f.metadata.clear()
