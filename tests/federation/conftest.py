from __future__ import annotations

import pytest
from federation_helpers import FedPKI, build_fed_pki


@pytest.fixture(scope="session")
def fed_pki(tmp_path_factory) -> FedPKI:
    return build_fed_pki(tmp_path_factory.mktemp("fedpki"))
