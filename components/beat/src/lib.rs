//! Cron-trigger component: runs the beat's pass on the schedule in spin.toml.
//! The same pass is reachable as `POST /v1/internal/beat`.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        world: "spin-cron",
        path: "wit",
        generate_all,
    });

    pub struct Beat;
    export!(Beat);
}

use bindings::spin::cron::cron_types::{Error, Metadata};

impl bindings::Guest for bindings::Beat {
    async fn handle_cron_event(_metadata: Metadata) -> Result<(), Error> {
        ledger_spin::run_beat().await.map_err(Error::Other)
    }
}
