"""A running set of simulated providers for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentwrap.sim.providers import SimProviders


@pytest.fixture
async def sim() -> AsyncIterator[SimProviders]:
    providers = SimProviders(speed=200, record_requests=True)
    await providers.start()
    try:
        yield providers
    finally:
        await providers.stop()
