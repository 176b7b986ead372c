"""PromptLedger's Python SDK: the prompt registry and LLM execution ledger.

from prompt_ledger import PromptLedger

ledger = PromptLedger()  # PROMPT_LEDGER_URL, PROMPT_LEDGER_API_KEY
result = ledger.execute("user_welcome", {"name": "Ada", "app_name": "Ledger"})
print(result["response_text"])
"""

from ._async_client import AsyncPromptLedger
from ._cache import DEFAULT_TTL_SECONDS, PromptCache
from ._client import PromptLedger
from ._handles import AsyncExecutionHandle, AsyncPaginator, ExecutionHandle, ItemsPage, Paginator
from ._ops import NOT_GIVEN
from ._version import __version__
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConflictError,
    ExecutionTimeoutError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PromptLedgerError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    UnavailableError,
    ValidationError,
)
from .models import (
    AnalyticsSummary,
    ApiKey,
    ApiKeyDetail,
    ChatMessage,
    CreatedApiKey,
    Execution,
    IngestResult,
    Label,
    ModelPrice,
    ModelRef,
    Prompt,
    PromptAnalytics,
    PromptDiff,
    PromptVersion,
    RegisterResult,
    RenderResult,
    Span,
    Trace,
    TraceSummary,
)
from .otel import configure_otel_exporter, current_trace_headers

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "NOT_GIVEN",
    "APIConnectionError",
    "APITimeoutError",
    "AnalyticsSummary",
    "ApiKey",
    "ApiKeyDetail",
    "AsyncExecutionHandle",
    "AsyncPaginator",
    "AsyncPromptLedger",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ChatMessage",
    "ConflictError",
    "CreatedApiKey",
    "Execution",
    "ExecutionHandle",
    "ExecutionTimeoutError",
    "IngestResult",
    "InternalServerError",
    "ItemsPage",
    "Label",
    "ModelPrice",
    "ModelRef",
    "NotFoundError",
    "Paginator",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Prompt",
    "PromptAnalytics",
    "PromptCache",
    "PromptDiff",
    "PromptLedger",
    "PromptLedgerError",
    "PromptVersion",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RegisterResult",
    "RenderResult",
    "Span",
    "Trace",
    "TraceSummary",
    "UnavailableError",
    "ValidationError",
    "__version__",
    "configure_otel_exporter",
    "current_trace_headers",
]
