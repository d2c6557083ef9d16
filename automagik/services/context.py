"""What every service call needs: the settings, the database and a LangFlow client."""

from __future__ import annotations

from dataclasses import dataclass

from automagik.config import Settings, load_settings
from automagik.db.engine import Database
from automagik.langflow import LangFlowClient


@dataclass
class AppContext:
    settings: Settings
    db: Database

    def langflow(self) -> LangFlowClient:
        """A new client for LangFlow; the caller closes it (it is a context manager)."""
        return LangFlowClient(
            self.settings.langflow_api_url,
            api_key=self.settings.langflow_api_key,
            connect_timeout=self.settings.langflow_connect_timeout,
            read_timeout=self.settings.langflow_read_timeout,
        )

    def close(self) -> None:
        self.db.dispose()


def open_context(settings: Settings | None = None) -> AppContext:
    settings = settings or load_settings()
    return AppContext(settings=settings, db=Database(settings.database_url))
