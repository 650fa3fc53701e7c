"""Collectors: one module per service, each `(UnitContext) -> CollectResult`."""
