"""Talking to the vendors: transports (sync and async), requests and answers, auth and its refresh, the
rate budget and pacing, connections, result downloads and the hosts they may reach."""
