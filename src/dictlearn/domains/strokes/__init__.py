"""Strokes domain: words written with the Hershey script fonts, as pen-move tokens."""
