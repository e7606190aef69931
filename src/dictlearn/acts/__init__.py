"""Activation caching (cache_acts): zarr v3 stores of hook activations, and their reader."""
