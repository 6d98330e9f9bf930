"""Faces: detection, alignment, data-set-level alignment and CK+ sequences."""
