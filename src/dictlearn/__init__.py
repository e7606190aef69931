"""dictlearn: sparse dictionary learning on small transformers, orchestrated by DVC."""


def __getattr__(name: str):
    # `from dictlearn import open_run` without importing torch for every stage that imports
    # a dictlearn module
    if name == "open_run":
        from dictlearn.api import open_run

        return open_run
    raise AttributeError(f"module 'dictlearn' has no attribute {name!r}")
