"""The tabular view of the shard cache that the tree families share: the design matrix built shard by
shard (design), id-column encodings fitted on a training fold (encoding), and a fold's inputs (inputs)."""
