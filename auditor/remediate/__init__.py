"""Remediation: a pure planner (findings -> plan) and an executor (plan -> AWS calls).

The planner decides what may be replaced, within hard safety limits, and why anything is
held back; the executor only carries out `planned` items, and only in `enforce` mode.
"""
