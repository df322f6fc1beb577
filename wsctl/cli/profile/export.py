"""`wsctl profile export NAME --asyncapi`: a profile as an AsyncAPI 3.0 document."""

from __future__ import annotations

import click

from wsctl.cli.support.env import Environment


@click.command("export")
@click.argument("name")
@click.option(
    "--asyncapi", "asyncapi", is_flag=True, help="Write an AsyncAPI 3.0.0 document (the only export format so far)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default=None,
    help="Output format [default: from --out's extension, else yaml].",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file instead of stdout (replaced atomically).",
)
@click.option(
    "--server-url",
    metavar="URL",
    default=None,
    help="wss://host:port/path of the server in the document [default: a {host} variable and the profile's path].",
)
@click.pass_obj
def export(
    env: Environment, name: str, asyncapi: bool, fmt: str | None, out: str | None, server_url: str | None
) -> None:
    """Export a profile as an AsyncAPI 3.0.0 document (YAML or JSON).

    Channels, messages with JSON-Schema payloads (units as x-unit),
    send operations with their replies for commands, receive operations for
    events, correlation ids, the subprotocol in the ws binding headers, roles,
    danger and confirmation texts as x-wsctl-* fields. The document validates
    against the official AsyncAPI 3.0.0 schema.

    \b
    EXAMPLES
      wsctl profile export conveyor --asyncapi > conveyor.asyncapi.yaml
      wsctl profile export ocpp16-charger --asyncapi --format json --out ocpp.json
      wsctl profile export psu --asyncapi --server-url wss://bench-psu.local:8443/scpi
    """
    import json

    from wsctl.cli.profile.common import load
    from wsctl.cli.profile.yaml_text import dumps
    from wsctl.core.profile.asyncapi import to_asyncapi

    if not asyncapi:
        raise click.UsageError("choose an export format: --asyncapi")
    profile, _ = load(env, name)
    document = to_asyncapi(profile, server_url=server_url)
    if out is None and env.json and fmt in (None, "json"):
        # --json: stdout is JSON Lines, so the document is one line of it
        env.stdout.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
        env.stdout.flush()
        return
    if fmt is None:
        fmt = "json" if out and out.lower().endswith(".json") else "yaml"
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else dumps(document)
    if out is None:
        env.stdout.write(text)  # --json --format yaml: asked for by name
        env.stdout.flush()
        return
    from wsctl.cli.support.output_file import write_output

    write_output(out, text.encode("utf-8"))
    operations = len(document["operations"])
    if env.json:
        env.emit(
            {
                "event": "exported",
                "file": out,
                "format": fmt,
                "asyncapi": document["asyncapi"],
                "operations": operations,
            }
        )
    else:
        env.info(f"wrote {out} (AsyncAPI {document['asyncapi']}, {fmt}, {operations} operations)")
