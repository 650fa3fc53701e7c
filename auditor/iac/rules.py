"""What the iac.* rules need from the configuration: whether they can run at all, and which
tags count as "managed by infrastructure as code"."""

from __future__ import annotations

from auditor.engine import RuleSet
from auditor.engine.history import restrict
from auditor.model import Service
from auditor.settings import IacConfig

IAC_UNMANAGED_RULE = "iac.unmanaged"
CFN_STACK_TAG = "aws:cloudformation:stack-name"


def declared_services(config: IacConfig) -> tuple[Service, ...]:
    """The declared-state "service" a cycle reads (and can fail to read), if configured."""
    return (Service.IAC,) if config.terraform_states else ()


def iac_rules(rules: RuleSet, config: IacConfig) -> RuleSet:
    """Without a Terraform state there is nothing to compare with, so the iac.* rules do not
    run (they would call everything unmanaged); `iac.cloudformation_managed: false` stops
    counting CloudFormation stacks as managed."""
    if not config.terraform_states:
        return restrict(rules, disabled=("iac.*",))
    unmanaged = rules.get(IAC_UNMANAGED_RULE)
    if not config.cloudformation_managed and unmanaged is not None:
        tags = [t for t in unmanaged.params.get("managed_tags", []) if t != CFN_STACK_TAG]
        return restrict(rules, params={IAC_UNMANAGED_RULE: {"managed_tags": tags}})
    return rules
