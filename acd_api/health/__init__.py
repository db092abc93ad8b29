"""The standard grpc.health.v1 protocol, generated under acd_api to avoid clashing with grpc."""
