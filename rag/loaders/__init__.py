"""Our own file loaders, one module per family of formats (the contract: rag/loading.py).

They are registered in pyproject.toml's `rag.loaders` entry-point group, the same
door a third party's loader comes through.
"""
