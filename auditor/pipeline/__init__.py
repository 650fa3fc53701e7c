"""The one package that knows the order of the stages of an audit cycle.

    preflight -> collect -> evaluate -> decide -> commit -> act -> publish -> deliver

One module per stage, each a function returning a frozen value (`values.py`); `cycle.py`
calls them in order (`run_cycle`). The CLI, the demo, the daemon and the event feed's
micro-cycles only call what this package and its stage modules export (a stage module
is named after its stage: `act.act`, `deliver.deliver`, `judge.judge`, ...).
"""

from auditor.pipeline.cycle import cycle_context, run_cycle
from auditor.pipeline.decide import (
    alert_plan,
    enforcing,
    recorded_actions,
    remediating,
    remediation_plan,
)
from auditor.pipeline.preflight import cycle_rules, preflight, tag_policy
from auditor.pipeline.publish import publish_latest, publish_on_demand, report_input
from auditor.pipeline.values import (
    CycleContext,
    CycleOptions,
    CycleResult,
    Decided,
    Preflight,
)

__all__ = [
    "CycleContext",
    "CycleOptions",
    "CycleResult",
    "Decided",
    "Preflight",
    "alert_plan",
    "cycle_context",
    "cycle_rules",
    "enforcing",
    "preflight",
    "publish_latest",
    "publish_on_demand",
    "recorded_actions",
    "remediating",
    "remediation_plan",
    "report_input",
    "run_cycle",
    "tag_policy",
]
