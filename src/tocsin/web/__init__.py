"""HTTP edge: the FastAPI app, its dependencies and thin routers."""
