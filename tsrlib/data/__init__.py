"""Deterministic synthetic corpus (speech, music, sound effects) and manifests for real corpora."""
