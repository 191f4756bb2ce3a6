"""Hypothesis profiles: a fast default run and a thorough one (make test-deep); the ``needs``
marker (tests/outside.py)."""
import os

from hypothesis import HealthCheck, settings

from outside import skip_unless

settings.register_profile("default", max_examples=40, stateful_step_count=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=1000, stateful_step_count=120, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*names): skipped unless these system tools or "
                            "extras are there (pipsim.kernel.needs)")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs"):
        skip_unless(*mark.args)
