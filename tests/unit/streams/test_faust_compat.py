"""The one module that touches Faust privates: it refuses other Faust versions."""

from __future__ import annotations

import faust
import pytest
from faust.streams import current_event

from streams import faust_compat


def test_the_pinned_faust_is_accepted() -> None:
    faust_compat.require_pinned_faust()
    assert faust.__version__ == faust_compat.PINNED_FAUST


def test_any_other_faust_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust, "__version__", "0.15.4")
    with pytest.raises(RuntimeError, match=r"needs faust-streaming 0\.15\.3"):
        faust_compat.require_pinned_faust()
    with pytest.raises(RuntimeError):
        faust_compat.install_commit_guard()


def test_table_access_is_routed_to_the_given_partition_then_released() -> None:
    assert current_event() is None
    with faust_compat.acting_for_partition("clout.likes", 5):
        event = current_event()
        assert event is not None
        assert (event.message.topic, event.message.partition) == ("clout.likes", 5)
    assert current_event() is None
