"""Incremental nights (SPEC §2.3, §6), seed 5: nights of 1, 3 and 21 days, each built incrementally, equal one full
build of the final export, table by table (the test itself is in test_incremental.py). A file of its own so that
make test's two sessions run it beside test_incremental.py's killed night (pytest-xdist gives a file to one session).
"""

from __future__ import annotations

import pytest

from test_incremental import base, nights_equal_one_full_build  # noqa: F401  (base: the module's folder fixture)


@pytest.mark.slow
def test_nights_appended_one_at_a_time_equal_one_full_build(base, dbt_builder, nights_home):  # noqa: F811
    nights_equal_one_full_build(base, dbt_builder, nights_home, seed=5, plan=(1, 3, 21), killed=None)
