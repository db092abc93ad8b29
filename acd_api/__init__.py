"""Generated gRPC stubs for the ACD API (proto/acd/v1) and the standard health service.

Regenerate with `.venv/bin/python scripts/gen-proto`; a unit test fails when the
checked-in files drift from the protos.
"""
