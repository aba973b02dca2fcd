"""The `tocsin` command line: local admin commands and clients of the REST API."""
