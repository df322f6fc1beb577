"""The plant PKI: CA, issued certificates, revocation.  Synchronous, uses cryptography."""
