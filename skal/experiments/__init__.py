"""Simulated labeling campaigns: learning curves, AUBC, resumable run logs, plots.

The harness answers one question: with a given model, which query strategy
reaches the accuracy you need with the fewest labels, and how fast?
:func:`run_experiment` runs every strategy on every seed (optionally in
parallel), writing each round to disk as it finishes so that an interrupted
experiment resumes where it stopped; :class:`ExperimentResults` turns the
records into learning curves, a summary table and a plot.
"""

from ._campaign import CampaignSettings, make_model, round_seed, simulate_campaign
from ._experiment import initial_split, load_results, run_experiment
from ._metrics import aubc, final_accuracy, labels_to_target
from ._presets import LEARNERS, MODELS, LearnerFactory, make_estimator, make_learner
from ._protocol import HarnessLearner, LearnerCapabilities, learner_capabilities
from ._records import FolderInUseError, RunLog, read_run_file
from ._report import ExperimentResults

__all__ = [
    "CampaignSettings",
    "LEARNERS",
    "LearnerFactory",
    "MODELS",
    "ExperimentResults",
    "FolderInUseError",
    "HarnessLearner",
    "LearnerCapabilities",
    "RunLog",
    "aubc",
    "final_accuracy",
    "initial_split",
    "labels_to_target",
    "learner_capabilities",
    "load_results",
    "make_estimator",
    "make_learner",
    "make_model",
    "read_run_file",
    "round_seed",
    "run_experiment",
    "simulate_campaign",
]
