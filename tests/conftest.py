"""Shared test settings: modest Hypothesis profiles (the CI machines are small)."""
import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# No deadline: the first example pays for imports and torch's lazy initialisation.
settings.register_profile("default", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Keep runs reproducible and light on shared machines.
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny networks: faster, and on a busy 2-core machine
    far faster. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """The tests' cache folder (decoded data sets, shipped stacks) is their own, never the user's."""
    before = os.environ.get("COREL_CACHE")
    os.environ["COREL_CACHE"] = str(tmp_path_factory.mktemp("corel-cache"))
    yield
    if before is None:
        os.environ.pop("COREL_CACHE", None)
    else:
        os.environ["COREL_CACHE"] = before
