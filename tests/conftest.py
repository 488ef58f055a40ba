"""Test-wide setup: this folder is on sys.path (pytest's rootdir-less "prepend" import of
this file puts it there), so every test folder can import the shared ``testkit``."""
