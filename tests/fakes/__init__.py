"""Loopback stand-ins for the vendors' HTTP APIs, checked against the vendors' own OpenAPI specs.

``spec`` validates JSON against ``components/schemas`` of a spec; ``openai_server`` is an aiohttp app that
speaks OpenAI Chat Completions, Responses and Azure OpenAI's deployment URL, validating every request.
"""
