"""LangFlow access for the scheduler: the HTTP client, its typed errors, and flow trimming."""

from automagik.langflow.client import LangFlowClient, LangFlowHealth, RunResult
from automagik.langflow.components import component_role, is_runnable_flow, trim_flow
from automagik.langflow.errors import (
    LangFlowAuthError,
    LangFlowBadRequest,
    LangFlowBadResponse,
    LangFlowError,
    LangFlowNoOutput,
    LangFlowNotFound,
    LangFlowRateLimited,
    LangFlowServerError,
    LangFlowTimeout,
    LangFlowUnreachable,
)
from automagik.langflow.urls import display_url

__all__ = [
    "LangFlowAuthError",
    "LangFlowBadRequest",
    "LangFlowBadResponse",
    "LangFlowClient",
    "LangFlowError",
    "LangFlowHealth",
    "LangFlowNoOutput",
    "LangFlowNotFound",
    "LangFlowRateLimited",
    "LangFlowServerError",
    "LangFlowTimeout",
    "LangFlowUnreachable",
    "RunResult",
    "component_role",
    "display_url",
    "is_runnable_flow",
    "trim_flow",
]
