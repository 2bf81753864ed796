"""The long form of config field descriptions, rendered into docs/config.md beside each key.

A field's `description` stays one line (what the key is, its unit or what the default means) so that
`toss config --explain` and the reference tables stay scannable; the why, the measured evidence and the
caveats live here, keyed by dotted key path (a section's path for a section). tests/test_config.py fails
when a description outgrows one line or a note names a key the schema does not have.
"""

from __future__ import annotations

NOTES: dict[str, str] = {
    "data.source": (
        "synthetic generates Toss-schema data with a planted truth at train_path/test_path, reused "
        "while data.synthetic is unchanged; parquet reads your own files there."
    ),
    "data.train_path": (
        "With source = synthetic the generator writes train.parquet, test.parquet and "
        "test_truth.parquet into this file's folder."
    ),
    "data.shard_mb": (
        "Wide rows, such as Toss's ~2.6 KB sequences, get shards of fewer than shard_rows rows."
    ),
    "data.add_isna_mask": (
        "The masks are the network's null-mask field and LightGBM's isna columns: nulls come in "
        "informative blocks."
    ),
    "data.impute_strategy": (
        "median is exact and streamed, and robust to the heavy tails of the Toss counters."
    ),
    "data.cat_cols": "They are embedded by the network, and native or id-encoded in LightGBM.",
    "data.num_patterns": "They skip the cat, label, id and sequence columns.",
    "data.hash_buckets": (
        "A column with fewer distinct train values gets a collision-free vocabulary, a larger one is "
        "hashed into n ids."
    ),
    "data.verify": (
        "full checks each file's crc32 when a step first reads it (one pass over bytes it reads "
        "anyway) and at build-cache reuse, besides its size and .npy header. quick checks sizes and "
        "headers at reuse, and computes no crc32 where the network and LightGBM read shards to train and "
        "predict: an opt-out, changed bytes go unseen there. A shard that fails is named; build-cache"
        " rebuilds it."
    ),
    "cv": (
        "The first match decides the method: order_key (latest), time_key, composite_group, group_key, "
        "stratified, random."
    ),
    "cv.n_splits": (
        "Each model is validated on its fold. Cost grows with n_splits; 5 beat 3 and a refit on every "
        "row on the real sets (BENCHMARKS.md, issue 20 item 2)."
    ),
    "cv.order_key": (
        "The last fold holds the latest 1/n_splits of the rows, the other folds are dealt from the rest "
        "as usual, and the stacker and calibrators learn on the last fold's OOF only. Cannot be combined "
        "with time_key or the group keys. Off by default: on data without drift it cost 0.0012 Score "
        "(docs/validation.md)."
    ),
    "cv.order_group": (
        "For a test that holds each group's latest rows (MovieLens: each user's latest ratings): each "
        "group's latest rows form the last fold. A global cut predicts nothing there."
    ),
    "cv.stratify_target": (
        "With groups (group_key or composite_group), true balances positives across folds and false "
        "only the fold sizes."
    ),
    "cv.time_key": "It excludes group_key and composite_group.",
    "cv.refit": (
        "none: the test set is predicted by the fold models, combined (ensemble.method). full: each "
        "family is also trained once on every training row, for the epochs / boosting rounds its "
        "folds selected (their mean), and that model predicts the test set; the calibrator and the "
        "family weights still come from the OOF logits."
    ),
    "features.covis.enabled": "They are written under runs/<exp>/covis.",
    "features.covis.stats": (
        "The sequence statistics are those of toss_core/features/seqstats.py. Without a sequence only"
        " id_rate and cross_rate apply. A training row's click rates (target_rate, id_rate, cross_rate)"
        " leave out its own fold only; for the families features.covis.nested_rates names, also the fold"
        " of the model that reads them."
    ),
    "features.covis.cross_cols": (
        "A pair's rate holds what neither column's own rate does when the click follows the pair (a user's"
        " clicks on one app, an app's clicks in one country): on Frappe user x item lifted LightGBM by 0.016"
        " test AUC and the network by 0.013. auto tries every pair of id_cols and every id column with every"
        " other cat column, and keeps a pair when its pairs recur on at least 1% of the keyed training rows"
        " (MovieLens' user x movie never do), neither column determines the other (the synthetic ad"
        " hierarchy) and its out-of-fold rate adds at least 0.001 balanced log-likelihood per row, 3"
        " standard errors clear of 0, to a logistic model of its two columns' rates (features/cross_gain.py;"
        " the synthetic Toss schema, whose ids act additively, adds none); over a million distinct pairs"
        " the gain is scored on a seeded million of them, the rates still read off every row. Each choice"
        " is logged with its gain and the kept crosses are listed in the covis manifest. A list names"
        " the pairs by hand; [] turns them off."
    ),
    "features.covis.nested_rates": (
        "toss covis then writes the click rates once more per fold model, with that fold's labels left out"
        " too, and the families named read them: their model of fold k trains and early-stops on rows that"
        " carry nothing of fold k's labels, so the OOF logits the stacker weighs them by are honest. The"
        " network by default: read plain, its OOF earned it a 0.11 share on Frappe that lowered the test"
        " Score; nested, it is stronger alone on Frappe and MovieLens and its share agrees with the test"
        " (BENCHMARKS.md, bench/family_share.py). Not the trees: their training rows' rates then come from"
        " (k-2)/k of the rows, which cost LightGBM and the ensemble 0.0012-0.0021 test Score. CatBoost reads"
        " the click rates only when named (else only the label-free columns). [] writes no variants. Disk:"
        " n_splits more float32 per rate per row (toss_core/features/fold_rates.py)."
    ),
    "sequence.col": "Without a sequence there are no DARE fields and no sequence features.",
    "sequence.max_len": "The original length survives as seq_len_raw.",
    "sequence.max_token": (
        "Larger ones, and test tokens never seen in train, become one out-of-vocabulary id, counted "
        "in the manifest. The vocabulary is the distinct train tokens remapped to 2..K+1: its size "
        "never follows a token's value."
    ),
    "sequence.query_mode": "S1 comes from the query_key columns, S2 from the recent context (recent_k).",
    "sequence.query_key": "Each must be embedded (or in query_same_vocab).",
    "sequence.query_same_vocab": "Their query uses the token's attention embedding, as in the DARE paper.",
    "sequence.transformer_block": "The encoded tokens are then pooled with the same attention weights.",
    "model.embed_id_cols": (
        "auto, first the evidence: an id column whose values average fewer than model.embed_min_events"
        " rows of the rarer class gets its out-of-fold click rate only (an embedding of a value with a"
        " click or two is memorised within an epoch); a column sequence.query_key names is always"
        " embedded. Then a trial for the others, all or none: fold 0 trained with them embedded, embedded"
        " under the coupled L2 with binned click rates (model.emb_l2 and model.dense_bins auto) and with"
        " their click rates only; a challenger replaces the plain embedding only when its calibrated"
        " validation Score leads by 2 standard deviations of a paired bootstrap (a bare lead was noise on"
        " MovieLens); fold 0 even under time-ordered folds (MovieLens' latest fold chose against its"
        " test). The winning arm becomes fold 0's model. Saved in runs/<exp>/nn/id_choice.json and in each"
        " checkpoint's config (docs/validation.md)."
    ),
    "model.id_min_count": (
        "A value seen in fewer training rows of the fold shares its column's unknown embedding row "
        "(id 0), so the network cannot memorise ids it has almost no evidence for; 1 = every value "
        "seen in training gets its own row."
    ),
    "model.emb_l2": (
        "Added to the mean loss at every step, over every row of the tables, as FuxiCTR's"
        " embedding_regularizer: a value seen in few batches gets few data gradients against a steady"
        " pull to zero, so rare ids stay near zero while frequent ones keep their embedding. Its worth"
        " depends on the set (Frappe +0.008 calibrated validation Score at 0.01, MovieLens -0.008 test"
        " AUC), so auto lets the id trial (model.embed_id_cols auto) try 0.01, with model.dense_bins 16,"
        " against 0; 0 where no trial runs."
    ),
    "model.numeric_fields": (
        "grouped: one field per numeric column family (the name without its trailing _<digits>: "
        "l_feat_3 -> l_feat; a name without such a suffix is its own family), a Linear over the "
        "family's signed-log values, and ONE field for all co-visitation features. binned: the same "
        "fields, plus a piecewise-linear encoding of each column's quantile bins (model.numeric_bins,"
        " fitted on the fold's training rows) summed into its family's field. per_column: one field "
        "per numeric and per co-visitation column (the QNN-α width grows with the column count)."
    ),
    "model.numeric_bins": (
        "The bin edges are fitted on up to 100k training rows of the fold and saved in the checkpoint."
    ),
    "model.dense_bins": (
        "Each co-visitation feature (the click rates of the ids and their crosses) adds a learned curve"
        " over its quantile bins to its field (as numeric_fields = binned does for numeric columns), the"
        " edges fitted on up to 100k training rows of the fold and saved in the checkpoint: a rate's effect"
        " is not linear (a recurring pair's rate near 1 all but decides the click), which trees find by"
        " splitting and a linear field cannot. auto: 16 when the id trial's arm with the coupled L2 and"
        " the bins wins (Frappe), else 0: alone, the bins cost synthetic seed 21's network 0.0025 Score."
    ),
    "train.batch_size": "With the balanced sampler, round(pos_fraction x batch_size) of them are positive.",
    "train.epochs": (
        "A fold stops sooner after early_stop_patience epochs without a better select_metric; a refit"
        " trains its folds' mean. 15 is where lr_decay 0.85 leaves 9% of the peak rate."
    ),
    "train.max_steps_per_epoch": (
        "Each epoch draws fresh random rows, so a large set validates and early-stops more often."
    ),
    "train.lr_decay": (
        "The decay is smooth per step. It needs no final epoch, so epochs is only a cap "
        "(toss_core/train/schedule.py). 0.85 over 0.7: Frappe's network still learned at epoch 8 under"
        " 0.7 and gained +0.006 test AUC; MovieLens and a synthetic seed tied or gained (BENCHMARKS.md)."
    ),
    "train.select_metric": (
        "Score_cal is measured after the temperature calibration the ensemble applies, Score after "
        "the prior shift only, which penalises a confident but well-ranking epoch the calibrator "
        "would fix."
    ),
    "train.lr_scaling": (
        "lr is the rate at lr_base_batch rows per step, and a batch of B rows trains at lr x (B / "
        "lr_base_batch)^0.5 (sqrt, the rule for Adam-type optimisers) or lr x B / lr_base_batch "
        "(linear). The warm-up stays warmup_epochs long, so it is the same share of the data at every"
        " batch size (BENCHMARKS.md)."
    ),
    "train.data_on_device": (
        "Every row of the fields the model reads is held as tensors on the training device (CPU RAM "
        "with runtime.device cpu) and batches are gathered there: no per-step host gather, copy or "
        "sync. auto: when they fit in device_memory_share of the free memory, else batches stream "
        "from the memory-mapped cache; true: always (even past the share); false: always stream."
    ),
    "train.device_memory_share": (
        "Free memory is torch's free memory on CUDA, and on CPU the RAM the OS reports available."
    ),
    "train.sampler.type": "balanced's prior shift is undone by the checkpoint's logit_offset.",
    "gbdt.params": (
        "Those defaults depend on the minority-class rows a fold trains on; seed and threads come "
        "from seed and runtime.num_threads unless given here."
    ),
    "gbdt.num_boost_round": "MovieLens-100k still improved at 500.",
    "gbdt.id_encoding": (
        "native: LightGBM categoricals; frequency: their training-fold frequency; target: frequency +"
        " smoothed click rate out of fold by inner folds; auto: target for ids below "
        "native_min_events, and for the others one booster native and one target-encoded on the "
        "validation rows placed like the test (the latest fold under cv.order_key / time_key, else "
        "fold 0) decide; the choice is saved in runs/<exp>/gbdt/id_choice.json (docs/validation.md)."
    ),
    "gbdt.native_min_events": (
        "Minority class for CTR: clicked. Clicks per value do not decide native vs target on their own "
        "(measured on six sets, BENCHMARKS.md issue 20): above this floor the auto trial decides."
    ),
    "catboost.params": "random_seed, thread_count and task_type come from seed and runtime unless given.",
    "tune.enabled": (
        "The pipeline runs the study and the fold models train with "
        "runs/<exp_name>/tuned/<family>.json on top of the config where its best trial beats the defaults "
        "on a fold the search did not see: after the trials the first fold outside tune.folds is trained "
        "with both, and the tuned parameters are used only where they score higher there (the lead on the "
        "searched fold is biased by the search: on Frappe CatBoost's best trial led there by 0.0001 and "
        "lost 0.0011 test Score; tune/verdict.py, BENCHMARKS.md); the verdict is in the tuned file. false: "
        "the graph is as without tuning."
    ),
    "tune.seed": (
        "Each trial is sampled with a seed made from this and its trial number, which the study hands"
        " out once across all workers, so concurrent workers never propose the same points and a "
        "resumed study moves on."
    ),
    "tune.storage": "E.g. postgresql://user@host/db. None = sqlite under runs/<exp_name>/tuned/study.db.",
    "tune.study_name": (
        "The fingerprint covers data, folds, space and fixed config, so a changed input starts a new "
        "study and an unchanged one continues."
    ),
    "tune.space": (
        "The default spaces are in toss_core/<family>/family.py; a family's mapping names keys of "
        "that family's sections only."
    ),
    "ensemble.method": "toss_core/post/ensemble_folds.py defines each method.",
    "ensemble.val_weight_temperature": (
        "A small T favours the best fold, a large one tends to equal weights."
    ),
    "calibration.enabled": (
        "The fit minimises the class-balanced log loss, and it applies also when the family blend "
        "weights are searched. Raw logits are calibrated to the ~2% click rate, where the "
        "class-balanced WLL is poor by construction."
    ),
    "logging.verbose_steps": "LightGBM logs iterations/s and its ETA every few seconds instead.",
}
