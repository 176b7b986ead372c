//! HTTP component: API keys, model prices, internal routes, and JSON 404s for unknown paths.

ledger_spin::http_component!();
