"""Shared by every test folder: this directory is on sys.path (pytest puts a
rootdir conftest's folder there), so `cli_runner` is importable everywhere.
Folder-specific fixtures stay in each folder's conftest.py."""
