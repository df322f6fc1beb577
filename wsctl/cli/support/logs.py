"""Log records of the lower layers on stderr, at the verbosity asked for.

Default (and -q): warnings and errors only, so stderr holds nothing but what
needs attention and the final error.  -v: INFO (what a connection did: TLS,
certificate, subprotocol ...); -vv: DEBUG (frames).  Under --json each record
is a JSON line (`{"event": "log", "level", "logger", "message"}`), so every
stderr line parses, the final error object included.

The level of the ``wsctl`` logger follows the verbosity, so a disabled level
costs the hot path one integer comparison, not a formatted record.
"""

from __future__ import annotations

import logging

from wsctl.cli.support.env import Environment, log_line


class _StderrHandler(logging.Handler):
    def __init__(self, env: Environment) -> None:
        super().__init__(logging.DEBUG)
        self.env = env

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if self.env.json:
                line = log_line(record.levelname.lower(), record.name, message)
            else:
                line = f"{record.levelname.lower()}: {message}"
            self.env.stderr.write(line + "\n")
            self.env.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never end a command
            self.handleError(record)


def level_for(verbosity: int) -> int:
    return logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else logging.WARNING


def install(env: Environment) -> None:
    """One handler for this run (an earlier in-process run's is replaced)."""
    logger = logging.getLogger("wsctl")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(_StderrHandler(env))
    apply(env)


def apply(env: Environment) -> None:
    """Follow env.verbosity (called again when -v/-q come after the verb)."""
    logging.getLogger("wsctl").setLevel(level_for(env.verbosity))
