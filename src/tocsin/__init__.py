"""Tocsin: self-hosted incident response."""

__version__ = "0.1.0"
