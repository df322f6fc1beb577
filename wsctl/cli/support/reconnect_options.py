"""`--max-retries` and `--backoff-max` say how to reconnect: without
`--reconnect` they would do nothing, so they are refused (as `--redact`
without `--record` is) rather than silently ignored."""

from __future__ import annotations

from wsctl.core.errors import UsageError


def check_reconnect_flags(reconnect: bool, max_retries: int | None) -> None:
    """Usage error for a reconnect setting typed without --reconnect (a config
    file's default for it is not typed, and stays harmless)."""
    if reconnect:
        return
    import click
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    typed = ctx is not None and ctx.get_parameter_source("backoff_max") == ParameterSource.COMMANDLINE
    for flag, given in (("--max-retries", max_retries is not None), ("--backoff-max", typed)):
        if given:
            raise UsageError(f"{flag} needs --reconnect (it says how to reconnect)")
