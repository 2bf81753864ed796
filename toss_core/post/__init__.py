"""After training: saved fold logits → one calibrated prediction → submission.csv → a diagnostics report.

Nothing here predicts; it reads the fold artifacts (toss_core.artifacts) only. The modules, in the order
they run (each stage's modules share its name as a prefix):

1. ensemble.py            the ensemble step: checks every fold artifact against the caches, folds and
                          models on disk, then
   1a. ensemble_folds.py     combines each family's folds (ensemble.method),
   1b. ensemble_families.py  weighs the families (a logistic stacker validated across folds),
                          and fits the calibrator on the blended OOF logits;
   1c. ensemble_verdict.py   judges afterwards whether the blend beats its best family (a Dagster check).
2. submission.py          the submission step: writes submission.csv through
   submission_file.py     the `ID,clicked` format (read, validate, write atomically, score);
   submission_blend.py    on demand (`toss blend`): two submission files → a third.
3. diagnostics.py         the diagnostics step: per-fold and OOF metrics, plots, a Markdown report,
   3a. diagnostics_truth.py  scored against the test labels where a data set has them.
"""
