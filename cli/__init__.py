"""The `loa` command (cli/main.py), above the composition root and the sandbox."""
