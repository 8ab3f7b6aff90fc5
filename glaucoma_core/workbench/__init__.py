"""The service layer: one implementation of each user action (see :mod:`.service`)."""

from glaucoma_core.workbench.datasets import Dataset
from glaucoma_core.workbench.references import Reference, experiment_ref, parse_reference, run_ref
from glaucoma_core.workbench.service import DEFAULT_RESAMPLES, Workbench
from glaucoma_core.workbench.threshold_rule import ThresholdRule

__all__ = ["DEFAULT_RESAMPLES", "Dataset", "Reference", "ThresholdRule", "Workbench", "experiment_ref",
           "parse_reference", "run_ref"]
