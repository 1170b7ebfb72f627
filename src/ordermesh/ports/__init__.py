"""Interfaces the core owns and the adapters implement."""
