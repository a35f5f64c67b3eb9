"""The guide's provider-specific features: OpenAI function calling and JSON mode, Anthropic system
prompts and max_tokens, a local model with base_url."""

from _offline import offline, show

LOOKUP = {
    "type": "function",
    "function": {
        "name": "get_metric",
        "description": "Fetch a business metric by name",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
}

if __name__ == "__main__":
    with offline() as (mg, upstream):
        skills = mg.skills
        # the guide's `payload` is each call's own: the fields its skill's prompt reads (`magsag catalog skills`)
        payloads = {
            "skill.analysis": {"data": "How did revenue develop?"},
            "skill.extraction": {"text": "Invoice 42 from ACME, due 2025-01-31, $1,200",
                                 "fields": ["vendor", "due_date", "amount"]},
            "skill.document-analysis": {"document": "A long contract..."},
            "skill.assistant": {"message": "Review my code"},
            "skill.pii-redaction": {"text": "John Smith, 555-1234, lives at 12 Elm St"},
        }

        # Function calling
        analysis_payload = {
            **payloads["skill.analysis"],
            "model_config": {
                "model": "gpt-4o",
                "tools": [LOOKUP]
            }
        }
        result = skills.invoke("skill.analysis", analysis_payload)
        show("function calling: the model asks for a tool", result)
        call = result["tool_calls"][0]
        assert call["name"] == "get_metric" and call["arguments"] == {"name": "revenue"}

        # ...run the tool, hand its result back, and the model answers
        follow_up = {
            **analysis_payload,
            "model_config": {
                **analysis_payload["model_config"],
                "messages": [
                    {"role": "assistant", "tool_calls": [{"id": call["id"], "function": {
                        "name": call["name"], "arguments": call["arguments"]}}]},
                    {"role": "tool", "tool_call_id": call["id"], "content": '{"revenue": "up 8%"}'},
                ],
            },
        }
        result = skills.invoke("skill.analysis", follow_up)
        show("function calling: the answer after the tool result", result)
        assert result["output"] and not result["tool_calls"]

        # JSON mode
        extraction_payload = {
            **payloads["skill.extraction"],
            "model_config": {
                "model": "gpt-4o",
                "response_format": {"type": "json_object"}
            }
        }
        result = skills.invoke("skill.extraction", extraction_payload)
        show("JSON mode (parsed output)", result)
        assert isinstance(result["output"], dict)

        # Extended context (200K tokens)
        doc_payload = {
            **payloads["skill.document-analysis"],
            "model_config": {
                "model": "claude-3-5-sonnet-20241022",
                "max_tokens": 4096
            }
        }
        result = skills.invoke("skill.document-analysis", doc_payload)
        show("Anthropic max_tokens", result)

        # System prompts (separate from user content)
        assistant_payload = {
            **payloads["skill.assistant"],
            "model_config": {
                "model": "claude-3-5-sonnet-20241022",
                "system": "You are a helpful coding assistant..."
            }
        }
        result = skills.invoke("skill.assistant", assistant_payload)
        show("Anthropic system prompt", result)

        # Use local models for privacy-sensitive tasks
        pii_payload = {
            **payloads["skill.pii-redaction"],
            "model_config": {
                "model": "llama3.1:70b",
                "base_url": upstream.base_url  # the guide's "http://localhost:11434", here a loopback server
            }
        }
        result = skills.invoke("skill.pii-redaction", pii_payload)
        show("local model", result)
        assert result["provider"] == "local"
