"""auditor: drift detection and compliance auditing for immutable infrastructure on AWS."""

__version__ = "0.1.0"
