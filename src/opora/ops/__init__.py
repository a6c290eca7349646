"""Operations: liveness and readiness probes, Prometheus metrics, configuration checks."""
