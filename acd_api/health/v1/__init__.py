"""grpc.health.v1: generated from proto/grpc/health/v1/health.proto."""
