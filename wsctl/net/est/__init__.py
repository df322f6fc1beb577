"""The EST server (RFC 7030) of the plant CA: HTTP/1.1 over TLS with h11 on trio."""
