"""Sans-I/O core: no sockets, no trio, no click.  Feed it data, get decisions back."""
