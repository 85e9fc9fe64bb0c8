"""server layer of alchemiscale-like (see design.md, Layers)."""
