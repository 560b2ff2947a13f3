//! `memory` probe: system.memory.usage (used, available, free), system.memory.utilization, swap.

wit_bindgen::generate!({ world: "probe", path: "../../wit" });

use exports::sonde::probe as _unused_exports_guard;
