"""`wsctl hub`: the central side devices dial into, and the operators who
command them by name through it (DESIGN.md section 10)."""
