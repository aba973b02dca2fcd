"""The durable engine: a worker that claims due jobs and hands each to its handler."""
