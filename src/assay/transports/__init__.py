"""Transports run commands and move files on a host (this machine now; SSH later)."""
