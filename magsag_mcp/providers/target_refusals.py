"""Which 400s say the target cannot serve the call (another target may), and which say the request is wrong for any
target: one rule for every vendor (:func:`target_cannot`), beside the words of a model that is unknown or not loaded
and of a route the server lacks. :func:`~.http_errors.error_for` classifies a 400 by them."""

from __future__ import annotations

import re

# A 400 saying the *target* cannot do something the call asked for (another target may): a phrase of refusal
# ("X is not supported", Gemini's "X is unsupported"), which says what this target does not do, where a request wrong
# for anyone is said to be invalid, missing or malformed. (See target_cannot for what such a refusal may not be about.)
_FEATURE_REFUSAL = re.compile(
    r"unsupported (?:value|parameter)|not supported|does not support|doesn't support|is not enabled for"
    r"|only supported by|not available (?:for|with|on)|\b(?:is|are) unsupported\b",
    re.IGNORECASE,
)
#: OpenAI's (and Azure's, and the servers that copy them) codes of a 400 for a parameter, or a value of one, that this
#: model does not take ("Unsupported parameter: 'max_tokens' is not supported with this model."): the code says it
#: whatever the words (a gateway's rewording, a message cut short)
_UNSUPPORTED_CODES = frozenset({"unsupported_parameter", "unsupported_value"})
#: a refusal of the caller's own data (a file, its type or format, an attachment's MIME type, an encoding), which every
#: target is sent alike: "Unsupported file type: .exe" stays a bad request. Not a *response* MIME type (Gemini 2's
#: "Function calling with a response mime type: 'application/json' is unsupported", which Gemini 3 takes)
_INPUT_REFUSED = re.compile(
    r"(?<!response )(?<!response_)\b(?:file|mime|media|content|image|audio|video|document)[ _-]?(?:type|format)s?\b"
    r"|\bfiles?\b|\bmimetype\b|\bencoding\b",
    re.IGNORECASE,
)
_TARGET_REFERENCE = re.compile(
    r"\b(?:this|the|that) model\b|\bmodels/|registry\.ollama\.ai/"
    # OpenAI's "Invalid content type. image_url is only supported by certain models.": the content part's type, a
    # modality this model lacks (not the caller's data's, which _INPUT_REFUSED's "content type" would take it for)
    r"|only supported by (?:certain|some|specific|select) models\b"
    # Ollama: "<model> does not support tools|thinking|insert|vision|..."
    r"|does not support (?:tools|thinking|insert|vision|images|chat|generate|completion|embeddings?)\b",
    re.IGNORECASE,
)
# vLLM started without tool calling: '"auto" tool choice requires --enable-auto-tool-choice ...'; OpenAI's
# models that take no such argument: "Model incompatible request argument(s) supplied: temperature, top_p"; an
# Azure deployment whose model the API does not serve (400 OperationNotSupported): "The chatCompletion operation
# does not work with the specified model, gpt-5-codex. Please choose different model and try again."
# DeepSeek, which takes JSON mode and no JSON schema: "This response_format type is unavailable now" (400; 422
# "response_format.type `json_schema` is unavailable now")
_SERVER_LACKS = re.compile(
    r"--enable-auto-tool-choice|--tool-call-parser|model incompatible request arguments? supplied"
    r"|operation does not work with the specified model|response_format(?:\.| )type `?\w*`? ?is unavailable",
    re.IGNORECASE,
)
# max_tokens above this model's output limit, which another model's may not be: Anthropic's "max_tokens: 8192 >
# 4096, which is the maximum allowed number of output tokens for ...", OpenAI's "max_tokens is too large: 32768.
# This model supports at most 16384 completion tokens", Gemini's "maxOutputTokens value of N but the supported range",
# DeepSeek's "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]", Groq's "`max_tokens` must be less
# than or equal to `32768`"
_OUTPUT_LIMIT = re.compile(
    r"maximum allowed number of output tokens|supports at most \d+ (?:completion|output) tokens"
    r"|max(?:_completion)?_tokens is too large|maxOutputTokens value of \d+ but the supported range"
    r"|valid range of max(?:_completion)?_tokens is|max(?:_completion)?_tokens`? must be less than or equal to",
    re.IGNORECASE,
)

#: a 400 saying the model itself is unknown (OpenAI-compatible servers and gateways: "The requested model 'x'
#: does not exist.", code model_not_found; DeepSeek: "Model Not Exist"; OpenRouter: "x is not a valid model ID";
#: Mistral: "Invalid model: x"): another target may serve the call
_MODEL_UNKNOWN = re.compile(
    r"\bmodel\b.{0,80}?\b(?:does not exist|not exist|not found)\b|\bis not a valid model\b|\binvalid model\b",
    re.IGNORECASE,
)
#: a local server with no model loaded (LM Studio's 400 or 404 "No models loaded. Please load a model in the developer
#: page or use the `lms load` command."): the model is not available there, as an unknown one is not, and the next
#: target may serve the call; no request of the caller's is at fault
_NO_MODEL_LOADED = re.compile(r"\bno models? (?:is |are )?loaded\b", re.IGNORECASE)


def says_no_model_loaded(message: str) -> bool:
    """Whether an error says the server has no model loaded (LM Studio), not that the request was bad."""
    return bool(_NO_MODEL_LOADED.search(message))


_UNSUPPORTED = re.compile(
    r"(unsupported|not supported|not implemented|unknown (endpoint|route|url|path)|no route|"
    r"not found|invalid (endpoint|url|path)|unrecognized request url|unexpected (endpoint|route|url|path))",
    re.IGNORECASE,
)
# whole words: "image_url is not supported" is about a field of the request, not a missing endpoint
_ABOUT_ENDPOINT = re.compile(r"\b(endpoint|route|url|path|method)\b|/responses|responses api", re.IGNORECASE)


def says_no_such_route(message: str) -> bool:
    """Whether an error says the server has no such endpoint (LM Studio's 200 "Unexpected endpoint or method.
    (POST /chat/completions)", a 400 "unknown url"), not that the request was bad."""
    return bool(_UNSUPPORTED.search(message) and _ABOUT_ENDPOINT.search(message))


def target_cannot(message: str, model: str | None = None, code: str | None = None) -> bool:
    """True when a 400's message (``code``: its vendor's code, in lower case) says the model or server cannot honour
    a feature of the request, which another target may: one rule for every vendor. A refusal ("not supported",
    "unsupported", "does not support", "not enabled for": :data:`_FEATURE_REFUSAL`) is this target's, whether it names
    the model (OpenAI's "... with this model", Gemini's "... for models/x") or not (Gemini's "Model does not support
    the requested response modalities: image", "Multi-modal output is not supported."; Anthropic's "... by
    claude-3-haiku"), unless what it refuses is the caller's own data (:data:`_INPUT_REFUSED`) or a route the server
    lacks, both sent alike to the next target. A request wrong for anyone (malformed, a field missing, a value out of
    its range) says no such thing, and stops the call. Read as a bad request, a refusal naming no model stopped the
    whole chain where the next target would have answered."""
    if code in _UNSUPPORTED_CODES or _SERVER_LACKS.search(message) or _OUTPUT_LIMIT.search(message):
        return True
    if not _FEATURE_REFUSAL.search(message):
        return False
    if _TARGET_REFERENCE.search(message):
        return True
    # "<model> does not support ...": the refusal names the model we called
    base = (model or "").rsplit("/", 1)[-1].split(":", 1)[0].lower()
    if len(base) >= 3 and base in message.lower():
        return True
    return _INPUT_REFUSED.search(message) is None and not says_no_such_route(message)


def says_model_unknown(message: str) -> bool:
    """Whether a 400's message says the model is unknown or not loaded where it was sent (:data:`_MODEL_UNKNOWN`,
    :data:`_NO_MODEL_LOADED`): another target may serve the call."""
    return bool(_MODEL_UNKNOWN.search(message) or _NO_MODEL_LOADED.search(message))
