"""Per-fold training logs: train_log_fold_K.csv (logging.csv_log) and TensorBoard events (logging.tb).

The CSV rows live in memory (and in the resume state) and the whole file is rewritten atomically, so a
resumed fold never carries rows from steps it redid. The `epoch` column counts from 1, like the log
lines. TensorBoard: `val/<metric>` holds the validation metrics only; the loss, learning rate and
rows/s are `train/*`, written every logging.verbose_steps steps and once per epoch (the epoch's mean
loss), at the optimiser step they were reached.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from toss_core.config import LoggingConfig
from toss_core.util.atomic import write_text

EPOCH_METRICS = ("AP", "WLL", "Score", "Score_cal")  # validation metrics logged after every epoch
CSV_COLUMNS = ("epoch", "step", "loss", "lr", *EPOCH_METRICS, "rows_per_s")


class FoldLog:
    """Rows for the CSV and scalars for TensorBoard of one fold."""

    def __init__(
        self, cfg: LoggingConfig, csv_path: Path, tb_dir: Path, rows: list[dict[str, Any]], step: int
    ):
        self.cfg = cfg
        self.csv_path = csv_path
        self.rows = rows
        self.writer = None
        if cfg.tb:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events a previous, interrupted attempt wrote after the resumed step
            self.writer = SummaryWriter(log_dir=str(tb_dir), purge_step=step if step > 0 else None)

    def add(self, row: dict[str, Any]) -> None:
        """One CSV row (missing columns left empty) and its numeric values as TensorBoard scalars."""
        self.rows.append({k: row.get(k, "") for k in CSV_COLUMNS})
        if self.writer is not None:
            for key in CSV_COLUMNS[2:]:  # every logged value but the epoch and step counters
                if key in row:
                    prefix = "val" if key in EPOCH_METRICS else "train"
                    self.writer.add_scalar(f"{prefix}/{key}", float(row[key]), int(row["step"]))

    def flush(self) -> None:
        if self.cfg.csv_log:
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)
            write_text(self.csv_path, buf.getvalue())
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()
