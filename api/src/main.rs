use service_kit::{server, telemetry};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = server::config_or_exit("api", api::Config::from_env);
    telemetry::init(config.common.log_format);
    api::Application::build(config)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}
