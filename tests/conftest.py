import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from raregal.demo import DEMO_SAMPLE
from raregal.measure.synthetic import planted_representations

#: Real images and labels copied into the repository by scripts/make_test_data.py
#: (what, and its credits: tests/data/README.md).
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def planted():
    """1,500 galaxies, 16-d, with 8 tight planted groups of 40-80 and vote fractions."""
    return planted_representations(
        1500, dim=16, n_groups=8, group_size=(40, 80), tightness=0.02, seed=1
    )


@pytest.fixture(scope="session")
def data_dir():
    return DATA


@pytest.fixture(scope="session")
def demo_images():
    """The package's 5,000 demo thumbnails: the gz-kaggle-5000 galaxies (the same
    GalaxyIDs as tests/data's labels), central half of each cutout at 128x128, which
    the default model sees whole (crop fraction 1) as it sees a cutout at its 0.5."""
    return DEMO_SAMPLE / "images"


def features_of(table):
    return table.filter(like="feat_").to_numpy(np.float32)


@pytest.fixture
def cpu_load():
    """Two busy processes (this machine's core count in CI) for the test's length,
    ended by the test or, at the latest, after two minutes: seeded results must
    not depend on how the threads are scheduled."""
    hogs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import time\nend = time.time() + 120\nwhile time.time() < end: pass",
            ]
        )
        for _ in range(2)
    ]
    yield
    for hog in hogs:
        hog.kill()
        hog.wait()
