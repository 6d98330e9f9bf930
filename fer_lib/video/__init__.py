"""Video inference (``fer-video``)."""
