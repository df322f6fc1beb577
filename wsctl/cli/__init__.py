"""click commands, option parsing, output rendering.  No protocol logic."""
