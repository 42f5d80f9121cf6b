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
