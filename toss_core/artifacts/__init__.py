"""Fold artifacts shared by every model family: OOF logits, test logits and their lineage (fold.py).

Below the families (each writes through it) and below post/ (the ensemble only reads through it)."""
