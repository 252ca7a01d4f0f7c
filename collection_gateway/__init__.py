"""Tools collection-gateway ships for the people who extend it (the gateway itself is `gateway`).

collection_gateway.conformance   the adapter conformance kit, a pytest plugin
"""
