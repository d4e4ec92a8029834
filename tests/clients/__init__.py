"""Programs the tests start as separate processes (stand-ins for a triggerer or a worker of a deployment)."""
