"""Files on this machine that came from elsewhere: opened without trusting what a path
points at (`regular`: regular files only, bounded reads), profiles found and read
by name or path (`profiles`), and recordings written and read (`recording_writer`,
`recording_reader`, `recording_flush`; the device side is `wsctl.net.recorder`).

The layer between `core` (pure: it parses what these read) and `net`/`cli`; it has no
sockets, no trio and no click.
"""
