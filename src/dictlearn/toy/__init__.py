"""Toy models of superposition (Jermyn, Schiefer & Hubinger 2022): N sparse features embedded
in m dimensions, decoded through k neurons; every member of a sweep trained in one batch."""
