"""CatBoost family: ordered target statistics on native categoricals (and ids), per fold on the same
caches, folds and co-visitation features as the other families (train), test prediction (predict)."""
