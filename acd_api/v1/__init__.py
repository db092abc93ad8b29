"""acd.v1: generated from proto/acd/v1/acd.proto (acd_pb2, acd_pb2_grpc)."""
