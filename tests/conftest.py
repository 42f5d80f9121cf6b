import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from raregal.synthetic import planted_representations

#: The project's real data, beside the checkout (see ../shared/data/README.md).
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def planted():
    """1,500 galaxies, 16-d, with 8 tight planted groups of 40-80 and vote fractions."""
    return planted_representations(1500, dim=16, n_groups=8, group_size=(40, 80),
                                   tightness=0.02, seed=1)


@pytest.fixture(scope="session")
def data_dir():
    if not DATA.is_dir():
        pytest.fail(f"the project's real data is missing: {DATA}")
    return DATA


def features_of(table):
    return table.filter(like="feat_").to_numpy(np.float32)


@pytest.fixture
def cpu_load():
    """Two busy processes (this machine's core count in CI) for the test's length,
    ended by the test or, at the latest, after two minutes: seeded results must
    not depend on how the threads are scheduled."""
    hogs = [subprocess.Popen([sys.executable, "-c",
                              "import time\nend = time.time() + 120\nwhile time.time() < end: pass"])
            for _ in range(2)]
    yield
    for hog in hogs:
        hog.kill()
        hog.wait()

