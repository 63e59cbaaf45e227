//! Structured logging through `tracing`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Libraries that log routine work at `info` (pg_walstream logs every
/// standby status update, about once a second) and are held to `warn`
/// unless `RUST_LOG` names them itself.
const CHATTY: &[&str] = &["pg_walstream"];

/// The filter directives for a `RUST_LOG` value (`None`: unset): the value,
/// default `info`, plus `<crate>=warn` for each chatty crate it does not
/// mention.
pub fn directives(rust_log: Option<&str>) -> String {
    let mut spec = rust_log
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("info")
        .to_owned();
    for name in CHATTY {
        if !spec.contains(name) {
            spec.push_str(&format!(",{name}=warn"));
        }
    }
    spec
}

/// Installs the global subscriber. `RUST_LOG` filters (default `info`;
/// see [`directives`]).
/// Safe to call more than once: later calls are ignored, which is what tests
/// that start several services in one process need.
pub fn init(format: LogFormat) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(directives(rust_log.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(directives(None)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // Err means a subscriber is already installed, which is fine.
    drop(result);
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn the_default_filter_holds_chatty_libraries_to_warn() {
        assert_eq!(directives(None), "info,pg_walstream=warn");
        assert_eq!(directives(Some("  ")), "info,pg_walstream=warn");
        assert_eq!(directives(Some("debug")), "debug,pg_walstream=warn");
    }

    #[test]
    fn a_filter_that_names_a_chatty_library_is_kept_as_given() {
        assert_eq!(
            directives(Some("info,pg_walstream=debug")),
            "info,pg_walstream=debug"
        );
    }
}
