"""LightGBM family: which categoricals are ids and how they are encoded (ids), parameters (params),
per-fold training (train), test prediction (predict), the linear baseline on the same design (logistic)
and the registry face (family)."""
