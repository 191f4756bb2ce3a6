"""Hypothesis profiles: a fast default run and a thorough one (make test-deep)."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=40, stateful_step_count=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=1000, stateful_step_count=120, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
