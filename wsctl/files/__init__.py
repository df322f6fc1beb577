"""Files on this machine that came from elsewhere: opened without trusting what a path
points at (`regular`: regular files only, bounded reads) and profiles found and read
by name or path (`profiles`).

The layer between `core` (pure: it parses what these read) and `net`/`cli`; it has no
sockets, no trio and no click.
"""
