"""End-to-end tests against a real local Airflow (scheduler, dag-processor, triggerer, api-server)."""
