//! HTTP component: executions (/v1/executions, the seed path /api/v1/prompts/execute) and the internal beat route.

ledger_spin::http_component!();
