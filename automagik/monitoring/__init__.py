"""Noticing silence: incidents opened and cleared once, whatever daemon notices first."""
