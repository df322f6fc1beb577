"""The hub's pure parts (DESIGN.md section 10): admission decisions, addressing,
the central side's answers to what devices ask, and the registry's schema and
migrations as data.  No I/O, no clock, no randomness of their own."""
