"""Operations that span both stores (design.md, Layers): used by the APIs, the CLI and tests.

Routes and the compute loop call these; they never build Cypher or store paths.
"""
