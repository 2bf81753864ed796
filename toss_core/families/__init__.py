"""Model families behind one interface (base.Family) and the registry that lists them (registry).

Steps, the CLI, tuning, the ensemble and the Dagster graph iterate over `registry.enabled(cfg)`; no
module outside a family's own package branches on a family's name."""
