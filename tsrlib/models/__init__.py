"""Diffusion super-resolution models behind one protocol (see protocol.py)."""
