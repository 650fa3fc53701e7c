"""Signed, tamper-evident audit reports: model, rendering, signing, verification, storage.

The bundle layout and the manifest format are a public contract (DESIGN.md, docs/reports.md):
an auditor checks them months later, with stock OpenSSL if they prefer.
"""
