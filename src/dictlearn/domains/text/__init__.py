"""Text domain: Shakespeare + Python source, a byte-level BPE of our own."""
