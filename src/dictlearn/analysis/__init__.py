"""Analyses of trained SAEs: metrics (eval_sae), the frontier, universality across models."""
