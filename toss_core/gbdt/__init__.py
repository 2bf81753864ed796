"""LightGBM family: id encodings (features), the shard-wise design matrix (design), per-fold training and
test prediction (train)."""
