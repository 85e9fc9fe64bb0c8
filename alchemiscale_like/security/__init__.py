"""security layer of alchemiscale-like (see design.md, Layers)."""
