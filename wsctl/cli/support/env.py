"""The environment a command runs in, and how it writes output.

Injected through click's context object (the httpie way), so that tests can swap
streams.  Two renderings of every result: concise human text on a TTY, or one JSON
object per line with stable keys (`--json`, or by default for streaming commands
when stdout is not a TTY).
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def log_line(level: str, logger: str, message: str) -> str:
    """A diagnostic as one JSON line on stderr under --json (log records and the verbs' own notes alike)."""
    import json  # here, not at the top: start-up of one-shot verbs

    return json.dumps({"event": "log", "level": level, "logger": logger, "message": message}, ensure_ascii=False)


class Environment:
    """Streams, output mode and environment variables of one command; each defaults to the process's."""

    # a plain class, not a dataclass: it is built at every start, and building a
    # dataclass costs more than the class is worth there (docs/performance.md, Start-up)
    def __init__(
        self,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        stdin: IO[str] | None = None,
        json: bool = False,
        verbosity: int = 0,
        environ: dict[str, str] | None = None,
        config_trace: list[str] | None = None,
    ) -> None:
        self.stdout: IO[str] = sys.stdout if stdout is None else stdout
        self.stderr: IO[str] = sys.stderr if stderr is None else stderr
        self.stdin: IO[str] = sys.stdin if stdin is None else stdin
        self.json = json
        #: -1 quiet, 0 normal, 1+ verbose
        self.verbosity = verbosity
        self.environ: dict[str, str] = dict(os.environ) if environ is None else environ
        #: where option defaults came from (config files), shown with -v
        self.config_trace: list[str] = [] if config_trace is None else config_trace
        #: what one command works out once for many devices (`client_options.tls_files`)
        self.memo: dict[object, Any] = {}

    @property
    def stdout_isatty(self) -> bool:
        return _isatty(self.stdout)

    @property
    def stdin_isatty(self) -> bool:
        return _isatty(self.stdin)

    def streaming_json(self) -> bool:
        """JSON Lines for streaming commands: asked for, or stdout is not a terminal."""
        return self.json or not self.stdout_isatty

    # -- results -----------------------------------------------------------
    def emit(self, obj: dict[str, Any], human: str | None = None, *, as_json: bool | None = None) -> None:
        """Write one result: a JSON line in JSON mode, else the human text."""
        use_json = self.json if as_json is None else as_json
        if use_json:
            import json  # not at the top: a human-mode one-shot verb need not load it

            self.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        elif human is not None:
            self.stdout.write(human if human.endswith("\n") else human + "\n")
        self.stdout.flush()

    # -- diagnostics (stderr; never mixed into results) ----------------------
    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self._diagnostic("info", "", message)

    def debug(self, message: str) -> None:
        if self.verbosity >= 1:
            self._diagnostic("debug", "debug: ", message)

    def warn(self, message: str) -> None:
        # warnings about security are never silenced by -q
        self._diagnostic("warning", "warning: ", message)

    def _diagnostic(self, level: str, prefix: str, message: str) -> None:
        """One stderr line; under --json the log records' JSON shape
        (`wsctl.cli.support.logs`), so that every stderr line parses."""
        self.stderr.write((log_line(level, "wsctl.cli", message) if self.json else prefix + message) + "\n")
        self.stderr.flush()
