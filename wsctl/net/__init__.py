"""trio + trio-websocket: TLS contexts, connect, serve.  No click here."""
