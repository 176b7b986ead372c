//! HTTP component: the prompt registry (/v1/prompts).

ledger_spin::http_component!();
