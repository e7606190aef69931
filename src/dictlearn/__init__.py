"""dictlearn: sparse dictionary learning on small transformers, orchestrated by DVC."""
