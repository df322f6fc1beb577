"""A message nested past the JSON parser's recursion limit (from a recording, or
from a device) is a message that is not readable JSON — never a RecursionError
that takes down the verb reading it."""

from __future__ import annotations

from wsctl.core.profile.codec import ClientCodec, Malformed
from wsctl.core.profile.fields import is_reply
from wsctl.core.record.compare import Ignore, answer_id
from wsctl.files.profiles import load_profile

DEEP = "[" * 100000 + "]" * 100000


def test_the_client_codec_reports_it_as_malformed():
    (item,) = ClientCodec(load_profile("conveyor")).feed(DEEP, now=0.0)
    assert isinstance(item, Malformed) and item.reason.startswith("not JSON")


def test_replay_comparison_and_reply_filter_take_it_as_text():
    rules = Ignore(["/id"])
    assert rules.normalize(DEEP) == ("text", DEEP)
    assert rules.key(DEEP) == rules.key(DEEP)
    assert answer_id(DEEP) is None
    assert is_reply(load_profile("conveyor"), DEEP) is True  # unreadable: compared, not hidden
