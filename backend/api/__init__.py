"""HTTP layer: FastAPI app factory, dependencies, error mapping, thin routers."""
