"""Helpers for the report notebooks, one module a job: `loading` reads the evaluation outputs
at the paths the rules pass, `tables` aggregates them, `plots` draws them and `provenance`
says how the data was made. The notebooks use the names re-exported here."""

from phasebench.reporting.loading import (
    NUMERICAL,
    curve_sources,
    error_by_parameter,
    evaluated,
    load_curves,
    load_scalars,
    swept_parameters,
)
from phasebench.reporting.plots import (
    model_styles,
    plot_budget_curves,
    plot_curves,
    plot_error_by_parameter,
    plot_pareto,
    plot_phase_portraits,
    plot_sensitivity,
)
from phasebench.reporting.provenance import data_provenance
from phasebench.reporting.tables import (
    budget_table,
    cost_table,
    failed_runs,
    failure_list,
    leaderboard,
    overview,
    pareto_front,
    rotation_table,
    seed_ranks,
    select_variants,
    split_failed,
    study_links,
    training_label,
    training_summary,
    variant_table,
)

__all__ = [
    "NUMERICAL",
    "budget_table",
    "cost_table",
    "curve_sources",
    "data_provenance",
    "error_by_parameter",
    "evaluated",
    "failed_runs",
    "failure_list",
    "leaderboard",
    "load_curves",
    "load_scalars",
    "model_styles",
    "overview",
    "pareto_front",
    "plot_budget_curves",
    "plot_curves",
    "plot_error_by_parameter",
    "plot_pareto",
    "plot_phase_portraits",
    "plot_sensitivity",
    "rotation_table",
    "seed_ranks",
    "select_variants",
    "split_failed",
    "study_links",
    "swept_parameters",
    "training_label",
    "training_summary",
    "variant_table",
]
