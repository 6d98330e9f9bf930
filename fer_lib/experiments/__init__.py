"""The notebooks' experiment code: the spatial baseline (notebook 03) and the hybrid (notebook 05)."""
