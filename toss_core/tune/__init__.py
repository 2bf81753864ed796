"""Hyperparameter search (Optuna) over either model family, as one step of the pipeline.

A trial is a set of config overrides (tune.space names config key paths): it trains the fold(s) of
tune.folds into its own directory, beside the run's shared caches, folds and co-visitation features, and
scores the mean calibrated validation Score (Score_cal, what model selection uses). The study lives in an
Optuna RDB storage (SQLite under runs/<exp>/tuned/ by default, any SQLAlchemy URL), so any number of
processes can add trials to one study; the best parameters are written to runs/<exp>/tuned/<family>.json,
which the fold models train with when tune.enabled.

    space.py      suggesting a trial's overrides, applying overrides and the tuned file to a config
    study.py      storage, study name, fingerprint, sampler and pruner
    objective.py  one trial: train, report per epoch (network), prune
    run.py        run_study: optimise, log each trial, write the tuned file and the plots
"""
