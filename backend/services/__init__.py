"""Domain services: no HTTP here; resources are passed in explicitly."""
