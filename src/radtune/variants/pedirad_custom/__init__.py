"""pedirad_custom: the multi-task variant of seed 001 (placeholder; the integrator replaces it)."""
