"""The two facts about a profile file that are read without loading it: its
format line and the shape of its id (`profile list` reads only these and the
summary fields; the loader checks the same ones)."""

from __future__ import annotations

import re

FORMAT = "wsctl-profile/1"
PROFILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
#: what a profile name from a file may be (`load_installed`, scenario files): a file name or id, never a path
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
#: the longest wait a profile may ask for (a day): a command's timeout, a
#: simulated reply's delay.  A profile comes from elsewhere, and every wait is
#: bounded: 1e300 seconds is never, not a timeout
MAX_TIMEOUT = 86400.0
