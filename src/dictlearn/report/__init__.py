"""The static report: HTML/CSS only, opens from file://, every piece of text escaped
(build.py assembles it; config.py holds its settings)."""
