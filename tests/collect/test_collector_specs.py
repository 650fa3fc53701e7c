"""A collector is found from its service: `auditor/collect/<service>.py` declares its SPEC."""

from __future__ import annotations

from auditor.collect.runner import api_services, collector_specs, collectors
from auditor.model import KIND_SERVICE, Service


def test_every_aws_service_has_the_collector_its_module_declares() -> None:
    specs = collector_specs()
    assert set(specs) == set(Service) - {Service.IAC}
    for service, spec in specs.items():
        assert spec.collect.__module__ == f"auditor.collect.{service.value}"
        assert spec.kinds, service
        assert {KIND_SERVICE[k] for k in spec.kinds} == {service}


def test_the_collectors_are_the_declared_ones() -> None:
    found = collectors()
    for service, spec in collector_specs().items():
        if service is Service.ECR:  # the image options are bound to the declared function
            assert found[service].func is spec.collect  # type: ignore[attr-defined]
        else:
            assert found[service] is spec.collect


def test_worker_clients_are_read_off_the_declared_iam_actions() -> None:
    assert api_services([Service.EC2]) == ("autoscaling", "ec2")
    assert api_services([Service.ECR, Service.EKS]) == ("ecr", "eks")
    assert api_services([Service.IAC]) == ()
