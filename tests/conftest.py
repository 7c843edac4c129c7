import os
import pathlib

import numpy as np
import pytest
from hypothesis import settings

# A few examples per property test; 200 for the tests marked `thorough` (one per kernel),
# which run in every plain `pytest` (CI included); `-m "not thorough"` leaves them out.
THOROUGH_EXAMPLES = 200
settings.register_profile("default", max_examples=15, deadline=None)
# CI (CI=true, as CI services set it and .ci/run exports): the same examples on every run
# (derandomized: a green run is reproducible, a red one reproduces) and no example database.
settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.register_profile("thorough", max_examples=THOROUGH_EXAMPLES, deadline=None)
_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
settings.load_profile(os.environ.get("CNNSIM_HYPOTHESIS", "ci" if _CI else "default"))

SHARED_MNIST = pathlib.Path(
    os.environ.get("CNNSIM_TEST_MNIST")
    or pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
)


@pytest.fixture(autouse=True)
def _terminal_width(monkeypatch):
    """Tables fit the terminal (``display.terminal_width``: ``$COLUMNS`` first). Tests read
    them at the width a run without a terminal gets, whatever terminal pytest runs in: at
    ``COLUMNS=60`` three tests failed on columns a narrow table leaves out. A test about
    the width sets ``COLUMNS`` itself (tests/test_first_run.py)."""
    from cnnsim.display import MAX_WIDTH

    monkeypatch.setenv("COLUMNS", str(MAX_WIDTH))


def pytest_report_header(config):
    s = settings.default
    name = getattr(settings, "get_current_profile_name", lambda: settings._current_profile)()
    return (
        f"hypothesis profile {name!r}: derandomize={s.derandomize}, "
        f"database={'off' if s.database is None else 'on'}, max_examples={s.max_examples} "
        f"({THOROUGH_EXAMPLES} for tests marked thorough)"
    )


def pytest_collection_modifyitems(config, items):
    # thorough tests: THOROUGH_EXAMPLES examples on top of the active profile (so they are
    # derandomized in CI too), whatever -m selected them
    for item in items:
        test = getattr(item, "obj", None)
        if item.get_closest_marker("thorough") and hasattr(test, "hypothesis"):
            if not getattr(test, "_cnnsim_thorough", False):
                settings(settings.default, max_examples=THOROUGH_EXAMPLES)(test)
                test._cnnsim_thorough = True


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def mnist_dir():
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found in {SHARED_MNIST} (tests that need it skip)")
    return SHARED_MNIST
