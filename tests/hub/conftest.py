from __future__ import annotations

import pytest
from hub_helpers import HubPKI, build_hub_pki


@pytest.fixture(scope="session")
def hub_pki(tmp_path_factory) -> HubPKI:
    return build_hub_pki(tmp_path_factory.mktemp("hubpki"))


@pytest.fixture
def registry(tmp_path):
    from wsctl.registry import Registry

    reg = Registry.open(tmp_path / "hub.db")
    yield reg
    reg.close()
