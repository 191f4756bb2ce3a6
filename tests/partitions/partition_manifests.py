"""A valid manifest the partition tests start from."""

VALID = {
    "image": {"name": "t", "arch": "python", "pages": 512, "table_size": 16, "levels": 3},
    "root": {"domain": "owner"},
    "partition": [
        {"name": "owner", "parent": "root", "pages": 120, "domain": "owner"},
        {"name": "sensor", "parent": "owner", "pages": 20, "domain": "owner"},
        {"name": "provider", "parent": "root", "pages": 40, "domain": "provider"},
    ],
    "device": [{"name": "temperature", "kind": "registers", "owner": "sensor"}],
    "channel": [{"from": "provider", "to": "sensor", "max_size": 64, "operations": ["read"]}],
    "key": [{"kid": "owner-mac", "alg": "HMAC256/64", "holder": "owner", "generate": True}],
}
