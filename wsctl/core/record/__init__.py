"""Recordings of WebSocket sessions, sans-I/O: the format, streaming reader with
migrations, redaction, HAR conversion, the replay scheduler and the mock-device
matcher.  File and socket I/O live in `wsctl.net.recorder`, `wsctl.net.replayer`,
`wsctl.net.proxy` and the CLI."""
