"""Codecs of the reference devices the fleet simulator emulates, one module per device."""
