"""Test scenarios (`wsctl test`): the file format, the checks on replies and
events, and the verdicts.  Pure: the runner in `wsctl.net.scenario` feeds
replies, events, refusals and times in; nothing here reads a clock or a socket."""
